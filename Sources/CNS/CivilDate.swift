import FoundationEssentials

/// A proleptic Gregorian calendar date in UTC.
///
/// Computed arithmetically rather than through `Calendar` so that the result never depends on
/// the process time zone or locale, and so that certificate times convert without Foundation's
/// date parsers.
struct CivilDate: Comparable {
    var year: Int
    var month: Int
    var day: Int

    init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    init(_ date: Date) {
        let days = Int((date.timeIntervalSince1970 / 86_400).rounded(.down))
        self = Self(daysSinceEpoch: days)
    }

    /// Inverse of `daysSinceEpoch`: the era-based conversion (400-year eras of 146,097 days,
    /// years counted from March so that the leap day is the last day of the year).
    init(daysSinceEpoch days: Int) {
        let shifted = days + 719_468  // 0000-03-01 to 1970-01-01
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let marchMonth = (5 * dayOfYear + 2) / 153
        self.day = dayOfYear - (153 * marchMonth + 2) / 5 + 1
        self.month = marchMonth < 10 ? marchMonth + 3 : marchMonth - 9
        self.year = yearOfEra + era * 400 + (self.month <= 2 ? 1 : 0)
    }

    var daysSinceEpoch: Int {
        let marchYear = month <= 2 ? year - 1 : year
        let era = (marchYear >= 0 ? marchYear : marchYear - 399) / 400
        let yearOfEra = marchYear - era * 400
        let marchMonth = month > 2 ? month - 3 : month + 9
        let dayOfYear = (153 * marchMonth + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func < (lhs: CivilDate, rhs: CivilDate) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }

    static func isLeap(_ year: Int) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    static func daysInMonth(_ month: Int, leap: Bool) -> Int {
        switch month {
        case 2: return leap ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// A UTC timestamp; `seconds` may carry a fraction.
    static func date(year: Int, month: Int, day: Int, hours: Int, minutes: Int, seconds: Double) -> Date {
        let days = CivilDate(year: year, month: month, day: day).daysSinceEpoch
        let interval = Double(days) * 86_400 + Double(hours * 3_600 + minutes * 60) + seconds
        return Date(timeIntervalSince1970: interval)
    }
}
