/// Which prompts of a plan's other concepts each shift is decoupled from (method.md §1,
/// "Composing concepts with several wordings"): the rows of $M_k$ that stand for $c_j,\ j \ne k$.
///
/// Every decoupled prompt adds up to $L - 1$ rows to $M_k$ (SD1: 76, the toy model: 15), so a few
/// concepts with many wordings overfill the text width $d$ (three styles with thirteen wordings
/// each on the toy model; ten prompts in all on SD1) and the plan runs in tolerance mode, where
/// the reach mask still keeps every listed prompt exact. `names` keeps the paper's setting, one
/// prompt per concept, and an exact null space.
public enum DecouplingScope: String, Codable, CaseIterable, Sendable {
    /// Every wording of every other concept: each one comes back exactly when its shift is
    /// removed, whatever the other shifts are (the default).
    case wordings
    /// The other concepts' names (their concept prompts) alone: each name comes back exactly when
    /// its shift is removed; their further wordings can move under the other shifts.
    case names
}
