// The stdlib's own canonical decomposition (the Unicode data Foundation uses too): Foundation's
// `decomposedStringWithCanonicalMapping` is not in FoundationEssentials, and the daemon must not
// load libFoundation for one accent strip.
@_spi(_Unicode) import Swift

extension CodiceFiscale {
    /// Builds the canonical (non-omocode) personal code from birth data (CNS.md section 4).
    ///
    /// - Surname: its consonants, then its vowels, then `X`, first three taken.
    /// - Name: the same, except that a name with four or more consonants takes the 1st, 3rd and 4th.
    /// - Accents are stripped and everything that is not a letter (spaces, apostrophes) is dropped,
    ///   so the surname `D'Angelo` gives `DNG` and the name `Niccolò` gives `NCL`.
    ///
    /// The birth data are the caller's: an impossible date (month 13, 30 February) or a place
    /// code that is not a letter and three digits is a programming error and traps.
    public static func make(
        surname: String, name: String, year: Int, month: Int, day: Int, sex: Sex, placeCode: String
    ) -> CodiceFiscale {
        precondition((1...12).contains(month), "month \(month) out of range")
        precondition(
            (1...CivilDate.daysInMonth(month, leap: CivilDate.isLeap(year))).contains(day),
            "day \(day) does not exist in \(year)-\(month)")
        let place = placeCode.utf8.map(asciiUppercased)
        precondition(
            place.count == 4 && isLetter(place[0]) && place.dropFirst().allSatisfy(isDigit),
            "place code \(placeCode) is not a letter and three digits")

        var bytes = surnameLetters(surname) + nameLetters(name)
        let yearDigits = (year % 100 + 100) % 100
        bytes += twoDigits(yearDigits)
        bytes.append(monthLetters[month - 1])
        bytes += twoDigits(sex == .female ? day + 40 : day)
        bytes += place
        bytes.append(checkByte(bytes))
        let value = String(decoding: bytes, as: UTF8.self)
        // Cheap insurance that the builder and the validator agree.
        assert(isValid(value), "make built an invalid code \(value)")
        return CodiceFiscale(uncheckedValue: value)
    }

    private static let vowels: Set<UInt8> = Set("AEIOU".utf8)

    /// Uppercase A-Z only, accents stripped (canonical decomposition, then non-ASCII dropped).
    private static func letters(_ text: String) -> [UInt8] {
        // Only ASCII scalars can be letters A-Z, so the other scalars are dropped before mapping.
        text._nfd.compactMap { $0.isASCII ? asciiUppercased(UInt8($0.value)) : nil }.filter(isLetter)
    }

    private static func surnameLetters(_ surname: String) -> [UInt8] {
        let all = letters(surname)
        let padded = all.filter { !vowels.contains($0) } + all.filter { vowels.contains($0) } + Array("XXX".utf8)
        return Array(padded.prefix(3))
    }

    private static func nameLetters(_ name: String) -> [UInt8] {
        let all = letters(name)
        let consonants = all.filter { !vowels.contains($0) }
        if consonants.count >= 4 {
            return [consonants[0], consonants[2], consonants[3]]
        }
        let padded = consonants + all.filter { vowels.contains($0) } + Array("XXX".utf8)
        return Array(padded.prefix(3))
    }

    private static func twoDigits(_ number: Int) -> [UInt8] {
        [UInt8(0x30 + number / 10), UInt8(0x30 + number % 10)]
    }
}
