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

    /// "a" before a vowel-initial word becomes "an".
    static func fixArticles(_ text: String) -> String {
        var words = text.split(separator: " ").map(String.init)
        for i in 0..<max(0, words.count - 1) where words[i] == "a" {
            if let first = words[i + 1].first, "aeiou".contains(first) { words[i] = "an" }
        }
        return words.joined(separator: " ")
    }
}

/// The template list and caption helpers.
public enum ToyCaption {
    /// Every template; a sample picks one uniformly.
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

    /// Every distinct caption the data set can produce (the watermark prompt included), sorted.
    public static func allCaptions() -> [String] {
        var set: Set<String> = [ToyConcepts.watermarkPrompt]
        for t in templates {
            for s in ToyConcepts.shapes.indices {
                for c in ToyConcepts.colours.indices {
                    for st in ToyConcepts.styles.indices { set.insert(t.caption(shape: s, colour: c, style: st)) }
                }
            }
        }
        return set.sorted()
    }

    /// A small caption list that still uses every template with every attribute word (each template
    /// filled with i-th shape, colour and style for i up to the longest list), plus the watermark
    /// prompt: the tokenizer fixture's caption set.
    public static func coveringCaptions() -> [String] {
        var out: [String] = []
        let n = max(ToyConcepts.shapes.count, ToyConcepts.colours.count, ToyConcepts.styles.count)
        for t in templates {
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

    /// Every distinct word of every caption.
    public static func words() -> [String] {
        Array(Set(allCaptions().flatMap { $0.split(separator: " ").map(String.init) })).sorted()
    }

    /// The attributes a caption names (nil where it names none), read back from its words; the
    /// watermark prompt gives all nil.
    public static func parse(_ caption: String) -> (shape: Int?, colour: Int?, style: Int?) {
        let words = caption.split(separator: " ").map(String.init)
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
