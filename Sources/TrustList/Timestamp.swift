#if canImport(Glibc)
import Glibc
#endif
public import FoundationEssentials

/// xsd:dateTime as trusted lists write it (TS 119 612 5.1.4: UTC, "Z"), and back.
public enum Timestamp {
    /// `2026-07-27T09:33:49Z`, also with fractional seconds or a numeric offset.
    public static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 19, bytes[4] == 0x2D, bytes[7] == 0x2D, bytes[10] == 0x54 || bytes[10] == 0x74,
              bytes[13] == 0x3A, bytes[16] == 0x3A else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for i in range {
                guard bytes[i] >= 0x30 && bytes[i] <= 0x39 else { return nil }
                value = value * 10 + Int(bytes[i] - 0x30)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var index = 19
        if index < bytes.count, bytes[index] == 0x2E {
            index += 1
            while index < bytes.count, bytes[index] >= 0x30 && bytes[index] <= 0x39 { index += 1 }
        }
        var offset = 0
        let zone = bytes[index...]
        if zone.elementsEqual([0x5A]) || zone.elementsEqual([0x7A]) {
            offset = 0
        } else if zone.count == 6, zone.first == 0x2B || zone.first == 0x2D, bytes[index + 3] == 0x3A,
                  let h = number(index + 1..<index + 3), let m = number(index + 4..<index + 6) {
            offset = (h * 60 + m) * 60 * (zone.first == 0x2D ? -1 : 1)
        } else if !zone.isEmpty {
            return nil
        }
        var fields = tm()
        fields.tm_year = Int32(year - 1900)
        fields.tm_mon = Int32(month - 1)
        fields.tm_mday = Int32(day)
        fields.tm_hour = Int32(hour)
        fields.tm_min = Int32(minute)
        fields.tm_sec = Int32(second)
        return Date(timeIntervalSince1970: TimeInterval(timegm(&fields) - offset))
    }

    public static func text(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var fields = tm()
        gmtime_r(&seconds, &fields)
        func pad(_ v: Int32, _ width: Int = 2) -> String {
            let digits = String(v)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(fields.tm_year + 1900, 4))-\(pad(fields.tm_mon + 1))-\(pad(fields.tm_mday))T\(pad(fields.tm_hour)):\(pad(fields.tm_min)):\(pad(fields.tm_sec))Z"
    }
}
