import Foundation
import NeuralNet
import SafeTensors

/// Writes a copy of a diffusers folder in which the UNet weights come from a (modified) module; every
/// other file is copied byte for byte. The copy is assembled in a temporary folder beside the
/// destination and renamed into place, so a failure leaves nothing behind.
public enum ModelFolderWriter {
    /// Tensors named in `keepInFloat32` are written in F32 even when the folder stores F16/BF16: a small
    /// weight shift rounded back to half precision would move the weight by more than the shift.
    public static func copy(_ folder: ModelFolder, to destination: URL, replacingUNetWeightsFrom unet: Module,
                            keepInFloat32: Set<String> = []) throws {
        let fm = FileManager.default
        guard !fm.fileExists(atPath: destination.path) else {
            throw PipelineError.invalidArgument("\(destination.path) already exists; choose a new output folder")
        }
        let parent = destination.deletingLastPathComponent()
        let tmp = parent.appendingPathComponent(".\(destination.lastPathComponent).tmp-\(UUID().uuidString.prefix(8))")
        do {
            try fm.copyItem(at: folder.url, to: tmp)
            let weights = tmp.appendingPathComponent("unet/diffusion_pytorch_model.safetensors")
            let original = try SafeTensorsFile(path: folder.unet.appendingPathComponent("diffusion_pytorch_model.safetensors").path)
            var writer = SafeTensorsWriter()
            for (key, p) in unet.namedParameters() {
                // Keep each tensor's stored precision (fp16 folders stay fp16).
                let dtype = keepInFloat32.contains(key) ? .f32 : ((try? original.info(key).dtype) ?? .f32)
                try writer.add(key, shape: p.shape, floats: UnsafeBufferPointer(start: p.pointer, count: p.count),
                               dtype: dtype == .f16 || dtype == .bf16 ? dtype : .f32)
            }
            try fm.removeItem(at: weights)
            try writer.write(to: weights.path, metadata: original.metadata)
            try fm.moveItem(at: tmp, to: destination)
        } catch {
            try? fm.removeItem(at: tmp)
            throw error
        }
    }
}
