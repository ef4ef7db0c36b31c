/// Caption templates of the toy data set. A template names some of the attributes (`{shape}`,
/// `{colour}`, `{style}`); attributes it omits are still drawn at random and known to the generator.
/// "a"/"an" agree with the word that follows.
public struct ToyCaptionTemplate: Sendable, Equatable {
    /// The pattern, e.g. "a {style} {colour} {shape}".
    public let pattern: String

    public init(_ pattern: String) { self.pattern = pattern }

    public var mentionsShape: Bool { pattern.contains("{shape}") }
    public var mentionsColour: Bool { pattern.contains("{colour}") }
    public var mentionsStyle: Bool { pattern.contains("{style}") }

    /// The caption for these attributes (indices into `ToyConcepts`).
    public func caption(shape: Int, colour: Int, style: Int) -> String {
        let filled =
            pattern
            .replacingAll("{shape}", with: ToyConcepts.shapes[shape])
            .replacingAll("{colour}", with: ToyConcepts.colours[colour])
            .replacingAll("{style}", with: ToyConcepts.styles[style])
        return ToyCaptionTemplate.fixArticles(filled)
    }

    /// The caption for the given attributes if this template names exactly those (non-nil) and no
    /// others (and each is a valid index into its `ToyConcepts` list); nil otherwise.
    public func prompt(shape: Int?, colour: Int?, style: Int?) -> String? {
        guard mentionsShape == (shape != nil), mentionsColour == (colour != nil), mentionsStyle == (style != nil) else { return nil }
        guard shape.map(ToyConcepts.shapes.indices.contains) ?? true, colour.map(ToyConcepts.colours.indices.contains) ?? true,
            style.map(ToyConcepts.styles.indices.contains) ?? true
        else { return nil }
        return caption(shape: shape ?? 0, colour: colour ?? 0, style: style ?? 0)
    }

    /// "a" before a vowel-initial word becomes "an".
    public static func fixArticles(_ text: String) -> String {
        var words = text.split(separator: " ").map(String.init)
        for i in 0..<max(0, words.count - 1) where words[i] == "a" {
            if let first = words[i + 1].first, "aeiou".contains(first) { words[i] = "an" }
        }
        return words.joined(separator: " ")
    }
}

/// Which caption templates: those the data set (and so every trained model) uses, or the held-out
/// wordings that no training caption uses, for measuring how a model and an erasure generalise.
public enum ToyTemplateSet: String, CaseIterable, Sendable {
    case training
    case heldOut = "held-out"

    public var templates: [ToyCaptionTemplate] {
        switch self {
        case .training: ToyCaption.templates
        case .heldOut: ToyCaption.heldOutTemplates
        }
    }
}

/// The template lists and caption helpers.
public enum ToyCaption {
    /// Every training template; a data set sample picks one uniformly.
    public static let templates: [ToyCaptionTemplate] = [
        "a {colour} {shape}",
        "a {style} {colour} {shape}",
        "a {shape} in {style} style",
        "a {colour} {shape} in {style} style",
        "a photo of a {colour} {shape}",
        "a photo of a {style} {colour} {shape}",
        "a {shape}",
        "a picture of a {style} {shape}",
        "a drawing of a {colour} {shape} on a dark background",
        "a {style} {shape}",
        "a {shape} coloured {colour}",
        "an image of a {colour} {style} {shape}"
    ].map(ToyCaptionTemplate.init)

    /// Wordings never used in training (no caption of `templates` can equal one of theirs); their
    /// words are in the toy vocabulary (`vocabularyCaptions`). Every attribute combination that a
    /// training template names is named by at least one of them.
    public static let heldOutTemplates: [ToyCaptionTemplate] = [
        "{shape}, {style} texture",
        "an image of a {shape} with {style} pattern",
        "an illustration of a {colour} {shape}",
        "a {colour} {shape} with a {style} pattern",
        "{colour} {shape}, {style} texture",
        "a {shape} shape",
        "a {style} pattern on a {shape}",
        "the {shape} is {colour}"
    ].map(ToyCaptionTemplate.init)

    /// Every distinct caption the data set can produce (the watermark prompt included), sorted.
    public static func allCaptions() -> [String] { captions(of: templates) }

    /// Every distinct caption of the held-out templates, sorted.
    public static func allHeldOutCaptions() -> [String] { captions(of: heldOutTemplates).filter { $0 != ToyConcepts.watermarkPrompt } }

    /// The captions the toy vocabulary is trained on: the data set's and the held-out ones, so that
    /// held-out prompts tokenize word by word although no model is trained on them.
    public static func vocabularyCaptions() -> [String] { allCaptions() + allHeldOutCaptions() }

    static func captions(of list: [ToyCaptionTemplate]) -> [String] {
        var set: Set<String> = [ToyConcepts.watermarkPrompt]
        for t in list {
            for s in ToyConcepts.shapes.indices {
                for c in ToyConcepts.colours.indices {
                    for st in ToyConcepts.styles.indices { set.insert(t.caption(shape: s, colour: c, style: st)) }
                }
            }
        }
        return set.sorted()
    }

    /// The prompts of `set` for the given attributes: each template that names exactly the
    /// attributes given (non-nil) and no others, filled in, in template order. E.g. shape and style
    /// with `.heldOut` give "circle, striped texture", "an image of a circle with striped pattern" and
    /// "a striped pattern on a circle". Empty when no template of the set names exactly that combination.
    public static func prompts(shape: Int?, colour: Int?, style: Int?, set: ToyTemplateSet) -> [String] {
        set.templates.compactMap { $0.prompt(shape: shape, colour: colour, style: style) }
    }

    /// A small caption list that still uses every template (training and held-out) with every
    /// attribute word (each template filled with i-th shape, colour and style for i up to the longest
    /// list), plus the watermark prompt: the tokenizer fixture's caption set.
    public static func coveringCaptions() -> [String] {
        var out: [String] = []
        let n = max(ToyConcepts.shapes.count, ToyConcepts.colours.count, ToyConcepts.styles.count)
        for t in templates + heldOutTemplates {
            for i in 0..<n {
                let c = t.caption(
                    shape: i % ToyConcepts.shapes.count, colour: i % ToyConcepts.colours.count,
                    style: i % ToyConcepts.styles.count)
                if !out.contains(c) { out.append(c) }
            }
        }
        out.append(ToyConcepts.watermarkPrompt)
        return out
    }

    /// Every distinct word of every vocabulary caption (`pieces`: punctuation is a word of its own).
    public static func words() -> [String] { Array(Set(vocabularyCaptions().flatMap(pieces))).sorted() }

    /// A caption split as CLIP's pre-tokenizer splits lower-case ASCII text: runs of letters, and
    /// runs of other non-space characters ("circle, striped" -> "circle", ",", "striped").
    public static func pieces(_ caption: String) -> [String] {
        var out: [String] = []
        var current = ""
        var currentIsLetters = false
        for ch in caption {
            if ch == " " {
                if !current.isEmpty { out.append(current) }
                current = ""
                continue
            }
            let letter = ch.isLetter
            if !current.isEmpty && letter != currentIsLetters {
                out.append(current)
                current = ""
            }
            current.append(ch)
            currentIsLetters = letter
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    /// The attributes a caption names (nil where it names none), read back from its words; the
    /// watermark prompt gives all nil.
    public static func parse(_ caption: String) -> (shape: Int?, colour: Int?, style: Int?) {
        let words = pieces(caption)
        return (
            words.lazy.compactMap { ToyConcepts.shapes.firstIndex(of: $0) }.first,
            words.lazy.compactMap { ToyConcepts.colours.firstIndex(of: $0) }.first,
            words.lazy.compactMap { ToyConcepts.styles.firstIndex(of: $0) }.first
        )
    }
}

extension String {
    /// Literal replacement of every occurrence (Foundation-free).
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var out = ""
        var rest = Substring(self)
        while let r = rest.firstRange(of: target) {
            out += rest[..<r.lowerBound]
            out += replacement
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}
