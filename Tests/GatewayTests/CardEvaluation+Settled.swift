@testable import Gateway

extension CardEvaluation {
    /// The verdict, with an OCSP query (when one is due) run right here, as the blocking pool
    /// would; `computed` as the router reports it.
    var settled: (verdict: CardVerdict, computed: Bool) {
        switch self {
        case .decided(let verdict, let computed): (verdict, computed)
        case .pending(let pending): (pending.resolve(), true)
        }
    }
}
