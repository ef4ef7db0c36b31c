import Diffusion
import Foundation

/// The UNet a benchmark's `--config` names: `sd14` (Stable Diffusion 1.4 / 1.5), `sdxl` (SDXL base
/// 1.0), or the path of a diffusers unet config.json.
enum BenchModelConfiguration {
    static let help = "'sd14', 'sdxl' (SDXL base 1.0) or the path of a diffusers unet config.json."

    static func unet(_ name: String) throws -> UNet2DConditionConfiguration {
        switch name {
        case "sd14": return .sd14
        case "sdxl": return .sdxlBase
        default: return try .load(from: URL(fileURLWithPath: name))
        }
    }
}
