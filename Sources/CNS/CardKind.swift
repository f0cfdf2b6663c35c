/// Which card an authentication certificate comes from. The raw value is the name the
/// configuration (`[profile]`, a client's `card_kinds`), the logs, `/whoami`, the audit trail
/// and the `amr` claim use.
public enum CardKind: String, Sendable, CaseIterable, Hashable, Comparable {
    /// A Carta Nazionale dei Servizi: the TS-CNS (Tessera Sanitaria) and the other CNS cards
    /// (universities, ministries). CN `<CF>/<16-digit card id>.<hash>`, policy 1.3.76.16.2.1
    /// or a declared equivalent.
    case cns
    /// The electronic identity card (Carta d'Identità Elettronica 3.0). CN
    /// `<CF>/<12 digits>`, serialNumber `IDCIT-<document number>`, policy 1.3.76.47.4.
    case cie

    public static func < (lhs: CardKind, rhs: CardKind) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}
