import ParleyCore
import ParleyModels

/// A chat turn's budget: what lets its model calls through, and what the turn does when it
/// may make none (the basic agent answers, or the turn is refused).
public struct TurnBudget: Sendable {
    public let admission: any ModelCallAdmission
    public let onExhausted: BudgetExhaustedAction

    public init(admission: any ModelCallAdmission, onExhausted: BudgetExhaustedAction) {
        self.admission = admission
        self.onExhausted = onExhausted
    }
}
