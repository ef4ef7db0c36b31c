import TensorEngine

/// Base class of every layer and model. A module's stored properties ARE its checkpoint keys:
/// a `Tensor` property named `weight` is the parameter `<path>.weight`, a `Module` property named
/// `to_k` is the child `<path>.to_k`, and an array of modules `resnets` gives `<path>.resnets.0`, ...
/// (the idea of mlx-swift's module reflection; names follow the diffusers / transformers checkpoints
/// exactly, hence snake_case property names in model code).
///
/// Optional properties that are nil contribute nothing; `Identity` placeholders keep list indices
/// aligned with PyTorch's `nn.ModuleList` / `nn.Sequential` (e.g. `ff.net.1` is a Dropout there).
open class Module {
    public init() {}

    /// (key, parameter) for every parameter below this module, keys relative to it.
    public func namedParameters() -> [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        visit(prefix: "") { key, value in
            if case .parameter(let t) = value { out.append((key, t)) }
        }
        return out
    }

    /// (key, module) for every module below this one, including itself under "".
    public func namedModules() -> [(String, Module)] {
        var out: [(String, Module)] = [("", self)]
        visit(prefix: "") { key, value in
            if case .module(let m) = value { out.append((key, m)) }
        }
        return out
    }

    public func parameters() -> [Tensor] { namedParameters().map(\.1) }

    /// Number of scalar parameters.
    public var parameterCount: Int { parameters().reduce(0) { $0 + $1.count } }

    /// Keys of tensors that checkpoints may carry but that are not parameters (e.g. CLIP's
    /// `position_ids` buffer). Strict loading accepts and ignores them. Relative to this module.
    open var ignoredCheckpointKeys: [String] { [] }

    enum Member {
        case parameter(Tensor)
        case module(Module)
    }

    /// Depth-first walk over stored properties in declaration order (superclass first).
    func visit(prefix: String, _ body: (String, Member) -> Void) {
        var mirrors: [Mirror] = []
        var m: Mirror? = Mirror(reflecting: self)
        while let current = m {
            mirrors.append(current)
            m = current.superclassMirror
        }
        for mirror in mirrors.reversed() {
            for child in mirror.children {
                guard let label = child.label else { continue }
                Module.visitValue(child.value, key: prefix + label, body)
            }
        }
    }

    private static func visitValue(_ value: Any, key: String, _ body: (String, Member) -> Void) {
        if let t = value as? Tensor {
            body(key, .parameter(t))
        } else if let module = value as? Module {
            body(key, .module(module))
            module.visit(prefix: key + ".", body)
        } else if let list = value as? [Module] {
            for (i, module) in list.enumerated() { visitValue(module, key: "\(key).\(i)", body) }
        } else if let list = value as? [Tensor] {
            for (i, t) in list.enumerated() { body("\(key).\(i)", .parameter(t)) }
        } else {
            let mirror = Mirror(reflecting: value)
            if mirror.displayStyle == .optional, let wrapped = mirror.children.first?.value {
                visitValue(wrapped, key: key, body)
            }
        }
    }

    /// Sets `requiresGrad` on every parameter (false freezes the module).
    public func setRequiresGrad(_ flag: Bool) {
        for p in parameters() { p.requiresGrad = flag }
    }
}

/// A module with no parameters that keeps `nn.Sequential` / `nn.ModuleList` indices aligned.
public final class Identity: Module {}
