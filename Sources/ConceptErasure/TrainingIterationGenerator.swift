import TensorEngine

extension PyTorchGenerator {
    /// The generator of one training iteration's random draws (timestep, noise, sampling seeds),
    /// seeded by (seed, concepts, iteration) alone: a run resumed from a checkpoint at iteration i
    /// draws exactly what the uninterrupted run drew there. `concepts` names what is trained
    /// (SepME: the group's concepts joined by "+"; the baselines: the concept). FNV-1a of the
    /// name, offset by the iteration, within torch's 32-bit seed range.
    init(trainingSeed seed: UInt64, concepts: String, iteration: Int) {
        var h: UInt64 = 1469598103934665603  // FNV-1a offset basis
        for b in concepts.utf8 { h = (h ^ UInt64(b)) &* 1099511628211 }
        self.init(seed: (seed &+ h &+ UInt64(iteration) &* 0x9E37_79B9) & 0xFFFF_FFFF)
    }
}
