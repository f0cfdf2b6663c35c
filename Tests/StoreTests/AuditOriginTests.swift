import Foundation
import OIDC
import Testing
@testable import Store

/// Migration 4 (issue 16): the audit trail says how the card reached the gateway and which
/// proxy forwarded it; records written before the step read back without either.
@Suite struct AuditOriginTests {
    @Test func aVersionThreeDatabaseMovesOnAndKeepsItsRecords() throws {
        let db = try TemporaryDatabase()
        do {
            let raw = try SQLiteConnection(path: db.path, create: true)
            let steps = Migrations.steps(.sqlite)
            try raw.execute(steps[0])
            try raw.execute(steps[1])
            try raw.execute(steps[2])
            try raw.execute("PRAGMA user_version = 3")
            try raw.execute("""
                INSERT INTO audit (time_ms, event, client_address, client_id, reason, cf) VALUES (1, 'login', '192.0.2.1', 'fse', 'ok', 'RSSMRA80A01H501U')
                """)
        }
        let store = try SQLiteStore(path: db.path)
        #expect(store.schemaVersion == Migrations.latest)
        try store.appendAudit(AuditRecord(time: 2, clientAddress: "198.51.100.23", clientID: "fse", reason: "revoked",
                                          certificateSerial: "0B", via: "forwarded", proxyAddress: "10.0.0.5:40000"))
        try store.appendAudit(AuditRecord(time: 3, clientAddress: "192.0.2.2", clientID: "fse", reason: "ok", via: "handshake"))
        let records = try store.audit(AuditFilter())
        #expect(records.map(\.via) == [nil, "forwarded", "handshake"])
        #expect(records.map(\.proxyAddress) == [nil, "10.0.0.5:40000", nil])
        #expect(records[1].json["via"]?.stringValue == "forwarded")
        #expect(records[1].json["proxy_address"]?.stringValue == "10.0.0.5:40000")
        #expect(records[0].json["via"] == nil)
    }
}
