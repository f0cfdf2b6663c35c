/// The help desk shown on every page (config section `[help]`). Every field is optional; the
/// page shows what is set and a neutral sentence when nothing is.
public struct HelpContacts: Sendable, Equatable {
    /// As the citizen should read it, e.g. `800 030 606`; the `tel:` link keeps only `+` and digits.
    public var phone: String?
    public var email: String?
    /// Linked only when it is an `http:` or `https:` address.
    public var url: String?
    /// Free text in the administration's words, e.g. `lunedì-sabato 8:00-20:00`.
    public var hours: String?

    public init(phone: String? = nil, email: String? = nil, url: String? = nil, hours: String? = nil) {
        self.phone = phone
        self.email = email
        self.url = url
        self.hours = hours
    }

    var isEmpty: Bool {
        [phone, email, url, hours].allSatisfy { ($0 ?? "").isEmpty }
    }
}
