import Diffusion
import Foundation
import TensorEngine

/// UCE (Gandikota et al., "Unified Concept Editing in Diffusion Models", WACV 2024) as an
/// `ErasureMethod`: the closed-form edit of every cross-attention key and value projection of the
/// authors' `train-scripts/train_erase.py` (`edit_model`, technique `replace`). For a projection W
/// [d_out, d_in], erased token rows k_i with their guide rows g_i, and preserved rows k_j:
///
///     W' = (λ W + s_e Σ_i v*_i k_iᵀ + s_p Σ_j W k_j k_jᵀ) (λ I + s_e Σ_i k_i k_iᵀ + s_p Σ_j k_j k_jᵀ)⁻¹,  v*_i = W g_i
///
/// (the paper's closed-form update with the erase/preserve weights of the script). With A = λ I + s_e Σ k_i k_iᵀ +
/// s_p Σ k_j k_jᵀ, the change is ΔW = W' − W = s_e Σ_i (W g_i − W k_i) (A⁻¹ k_i)ᵀ exactly: the
/// preserve terms cancel from the numerator and act only through A. A is shared by every
/// projection, so one double-precision Cholesky solve A X = Kᵀ serves them all, and ΔW is formed
/// directly (no W' − W cancellation). Written as a dense shift (no bias change); SD's K/V
/// projections have no bias, and v* is the weight's image W g.
///
/// Token rows (`tokenWindows`): an erased prompt contributes its rows from its last word token to
/// the end, paired with the guide prompt's rows from the guide's last word token, both windows cut
/// to the same length as the script aligns them; a preserved prompt contributes every row.
///
/// One shift per concept: `edit_model` edits a list of concepts in one joint solve, but sepme keeps
/// one shift file per concept, so each concept is solved on its own (its prompts erased; the
/// preserve set kept; the plan's other concepts neither erased nor preserved). The preserve set is
/// the plan's UCE preserve prompts, its protected prompts and the concepts of existing shifts; when
/// that is empty the blank prompt is preserved, as the script does without preserve concepts.
struct UCEMethod: ErasureMethod {
    /// UCE trains nothing: a folder of training images has no use.
    func check(plan: ErasurePlan, model: ShiftSet) throws {
        if plan.imagesFolder != nil {
            throw ErasureError.invalidPlan(field: "images_folder", reason: "the method 'uce' is a closed form and uses no training images")
        }
    }

    func erase(plan: ErasurePlan, concepts: [Int], model: ShiftSet, context: ErasureContext) throws -> [ConceptShift] {
        let options = plan.uce ?? UCEOptions()
        let preserve = Self.preserveSet(plan: plan)
        var recorded = options
        recorded.preserve = preserve
        var shifts: [ConceptShift] = []
        for k in concepts {
            if context.observer.shouldStop() { throw ErasureError.interrupted(checkpoint: nil) }
            let start = Date()
            let prompts = plan.prompts(ofConceptAt: k)
            let deltas = try Self.deltas(
                model: model, erase: prompts, guide: options.guide, preserve: preserve, options: options)
            let seconds = Date().timeIntervalSince(start)
            var metadata = ShiftMetadata(
                variant: .separate, concepts: prompts, protectedPrompts: plan.protectedPrompts, decoupledFrom: [],
                baseFingerprint: model.fingerprint, hyperparameters: plan.hyperparameters,
                training: TrainingRecord(stopReason: .closedForm, seconds: seconds), nullSpace: nil,
                restorable: false, toolVersion: SepMEInfo.version)
            metadata.method = .uce
            metadata.uce = recorded
            shifts.append(ConceptShift(metadata: model.recordingModel(in: metadata), weights: .dense(deltas: deltas, biases: [:])))
            context.observer.message(String(format: "%@: closed form on %d projections in %.2f s", plan.concepts[k], deltas.count, seconds))
        }
        return shifts
    }

    /// The prompts every concept's edit keeps: UCE preserve prompts, protected prompts, then the
    /// concepts of existing shifts, without repeats; the blank prompt when there are none.
    static func preserveSet(plan: ErasurePlan) -> [String] {
        var seen: Set<String> = []
        let all = ((plan.uce?.preserve ?? []) + plan.protectedPrompts + plan.decoupleFrom).filter { seen.insert(ErasurePlan.key($0)).inserted }
        return all.isEmpty ? [""] : all
    }

    /// ΔW for every cross-attention key and value projection of `model`, by projection key.
    static func deltas(
        model: ShiftSet, erase: [String], guide: String, preserve: [String], options: UCEOptions
    ) throws -> [String: Tensor] {
        let rows = try tokenRows(pipeline: model.pipeline, erase: erase, guide: guide, preserve: preserve)
        let solve = try UCEClosedForm(erased: rows.erased, guides: rows.guides, preserved: rows.preserved, options: options)
        var out: [String: Tensor] = [:]
        for (key, linear) in model.projections.keyValueProjections {
            out[key] = try solve.delta(weight: DoubleMatrix(linear.weight)).toTensor()
        }
        return out
    }

    /// The token rows of the closed form as double matrices: the erased prompts' windows [n_e, d]
    /// and the guide rows aligned with them [n_e, d], and every row of the preserved prompts [n_p, d].
    static func tokenRows(
        pipeline: any PromptConditionedPipeline, erase: [String], guide: String, preserve: [String]
    ) throws -> (erased: DoubleMatrix, guides: DoubleMatrix, preserved: DoubleMatrix) {
        func embedding(_ prompt: String) throws -> DoubleMatrix {
            let e = pipeline.conditioning(prompts: [prompt]).context  // [1, L, d]
            return try DoubleMatrix(e.reshaped([e.shape[1], e.shape[2]]))
        }
        // Word tokens: the ids between BOS and EOS.
        func words(_ text: String) -> Int { pipeline.tokenizer.tokenize(text).count - 2 }
        let g = try embedding(guide)
        var erased: [DoubleMatrix] = []
        var guides: [DoubleMatrix] = []
        for p in erase {
            let e = try embedding(p)
            let (c, w) = tokenWindows(promptWords: words(p), guideWords: words(guide), length: e.rows)
            erased.append(e.rows(c))
            guides.append(g.rows(w))
        }
        return (try stack(erased), try stack(guides), try stack(preserve.map(embedding)))
    }

    /// The aligned windows of `edit_model`: a prompt with n word tokens (after truncation to L − 2)
    /// has its last word token at row n (BOS is row 0; the blank prompt's window starts at BOS);
    /// with f the larger of the two counts, the prompt takes rows n..<L−(f−n) and the guide rows
    /// n_g..<L−(f−n_g): the same length L − f, the last word tokens paired.
    static func tokenWindows(promptWords: Int, guideWords: Int, length: Int) -> (prompt: Range<Int>, guide: Range<Int>) {
        let n = max(0, min(promptWords, length - 2))
        let ng = max(0, min(guideWords, length - 2))
        let f = max(n, ng)
        return (n..<(length - (f - n)), ng..<(length - (f - ng)))
    }

    private static func stack(_ matrices: [DoubleMatrix]) throws -> DoubleMatrix {
        guard let cols = matrices.first?.cols else { return DoubleMatrix(zeros: 0, 0) }
        return try DoubleMatrix(rows: matrices.reduce(0) { $0 + $1.rows }, cols: cols, values: matrices.flatMap(\.values))
    }
}
