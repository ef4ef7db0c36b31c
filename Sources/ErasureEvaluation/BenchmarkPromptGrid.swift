import Toy

/// The prompts one benchmark target is scored on, for one template set (UnlearnCanvas's protocol,
/// Zhang et al. 2024, on the toy testbed):
///
/// - style target s: UA = every object × s; IRA = every object × every other style; CRA = every
///   object in its grid colour (prompts that name no style).
/// - object target o: UA = o × every style; IRA = every other object in its grid colour; CRA =
///   every other object × every style.
///
/// An object's grid colour is the grid's colour at (its shape label) modulo the number of grid
/// colours, so every colour is drawn when there are at least as many shapes as colours, and the
/// coloured prompts (one per object, not one per object × colour) cost what the cross-domain check
/// needs rather than half the grid.
///
/// Each combination is one prompt: of the set's templates that name exactly those attributes, the
/// one at (sum of the attributes' labels) modulo their count, so the wordings vary over the grid
/// and a combination's prompt is the same in every target's grid (the original model's images are
/// made once for `union`). Combinations the set has no template for are left out.
public struct BenchmarkPromptGrid: Equatable, Sendable {
    public enum Kind: String, Codable, Sendable { case style, object }

    /// A concept to erase: a style or a shape of `ToyConcepts`, by label.
    public struct Target: Equatable, Sendable {
        public let kind: Kind
        public let label: Int
        public init(kind: Kind, label: Int) {
            self.kind = kind
            self.label = label
        }
        public var name: String { kind == .style ? ToyConcepts.styles[label] : ToyConcepts.shapes[label] }
    }

    /// One prompt and the attribute labels it names.
    public struct Prompt: Hashable, Sendable {
        public let prompt: String
        public let shape: Int
        public let colour: Int?
        public let style: Int?
    }

    public let target: Target
    public let templateSet: ToyTemplateSet
    public let ua: [Prompt]
    public let ira: [Prompt]
    public let cra: [Prompt]

    /// The grid of `target` over the given shape, style and colour labels (the target among them).
    public init(target: Target, templateSet: ToyTemplateSet, shapes: [Int], styles: [Int], colours: [Int]) {
        self.target = target
        self.templateSet = templateSet
        let styled = { (shapes: [Int], styles: [Int]) in Self.styled(shapes: shapes, styles: styles, set: templateSet) }
        let coloured = { (shapes: [Int]) in Self.coloured(shapes: shapes, colours: colours, set: templateSet) }
        switch target.kind {
        case .style:
            ua = styled(shapes, [target.label])
            ira = styled(shapes, styles.filter { $0 != target.label })
            cra = coloured(shapes)
        case .object:
            let others = shapes.filter { $0 != target.label }
            ua = styled([target.label], styles)
            ira = coloured(others)
            cra = styled(others, styles)
        }
    }

    /// UA, IRA and CRA prompts together (retained = IRA + CRA).
    public var all: [Prompt] { ua + ira + cra }
    public var retained: [Prompt] { ira + cra }

    /// Every prompt any target's grid over these labels can use: each shape × style combination,
    /// then each shape in its grid colour.
    public static func union(templateSet: ToyTemplateSet, shapes: [Int], styles: [Int], colours: [Int]) -> [Prompt] {
        styled(shapes: shapes, styles: styles, set: templateSet) + coloured(shapes: shapes, colours: colours, set: templateSet)
    }

    /// Each shape × style combination's prompt, shape by shape.
    static func styled(shapes: [Int], styles: [Int], set: ToyTemplateSet) -> [Prompt] {
        shapes.flatMap { sh in styles.compactMap { prompt(shape: sh, colour: nil, style: $0, set: set) } }
    }

    /// Each shape's prompt in its grid colour: `colours` at the shape's label modulo their count
    /// (none when the grid has no colour).
    static func coloured(shapes: [Int], colours: [Int], set: ToyTemplateSet) -> [Prompt] {
        guard !colours.isEmpty else { return [] }
        return shapes.compactMap { prompt(shape: $0, colour: colours[$0 % colours.count], style: nil, set: set) }
    }

    /// The prompt of one combination (see the type's comment); nil when no template of the set names it.
    static func prompt(shape: Int, colour: Int?, style: Int?, set: ToyTemplateSet) -> Prompt? {
        let texts = ToyCaption.prompts(shape: shape, colour: colour, style: style, set: set)
        guard !texts.isEmpty else { return nil }
        let text = texts[(shape + (colour ?? 0) + (style ?? 0)) % texts.count]
        return Prompt(prompt: text, shape: shape, colour: colour, style: style)
    }

    /// The further wordings `target` is erased on (`BenchmarkSettings.conceptTemplates`): each
    /// template with the target in its own placeholder and every other placeholder expanded over
    /// the given labels, "a"/"an" agreeing; in template order, without repeats or the target's name.
    public static func conceptPrompts(target: Target, templates: [String], shapes: [Int], styles: [Int], colours: [Int]) -> [String] {
        var out: [String] = []
        var seen: Set<String> = [target.name]
        for template in templates {
            var texts = [template]
            func expand(_ placeholder: String, _ words: [String]) {
                texts = texts.flatMap { t in t.contains(placeholder) ? words.map { t.replacingOccurrences(of: placeholder, with: $0) } : [t] }
            }
            expand("{shape}", target.kind == .object ? [target.name] : shapes.map { ToyConcepts.shapes[$0] })
            expand("{style}", target.kind == .style ? [target.name] : styles.map { ToyConcepts.styles[$0] })
            expand("{colour}", colours.map { ToyConcepts.colours[$0] })
            for t in texts.map(ToyCaptionTemplate.fixArticles) where seen.insert(t).inserted { out.append(t) }
        }
        return out
    }
}
