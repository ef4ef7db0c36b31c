import TensorEngine

extension PyTorchGenerator {
    /// The generator of one training iteration's random draws (timestep, noise, sampling seeds),
    /// seeded by (seed, concepts, iteration) alone: a run resumed from a checkpoint at iteration i
    /// draws exactly what the uninterrupted run drew there. `concepts` names what is trained
    /// (SepME: the group's concepts joined by "+"; the baselines: the concept). FNV-1a of the
    /// name, offset by the iteration, within torch's 32-bit seed range.
    init(trainingSeed seed: UInt64, concepts: String, iteration: Int) {
        // The basis these seeds have always used (FNV's offset basis short of its last decimal digit):
        // another would change every training draw, and so every shift, of a given seed.
        var h = FNV1a(basis: 1_469_598_103_934_665_603)
        h.add(concepts.utf8)
        self.init(seed: (seed &+ h.value &+ UInt64(iteration) &* 0x9E37_79B9) & 0xFFFF_FFFF)
    }
}
