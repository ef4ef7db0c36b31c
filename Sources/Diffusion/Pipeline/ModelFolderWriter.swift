import Foundation
import NeuralNet
import SafeTensors

/// Writes a copy of a diffusers folder in which the UNet weights come from a (modified) module; every
/// other file is copied byte for byte. Built on `DiffusersFolderWriter`: assembled in a temporary
/// folder beside the destination and renamed into place, so a failure or a stop leaves nothing behind.
public enum ModelFolderWriter {
    /// Tensors named in `keepInFloat32` are written in F32 even when the folder stores F16/BF16: a small
    /// weight shift rounded back to half precision would move the weight by more than the shift.
    /// `shouldStop` is polled between files. The destination must not exist and must lie outside the
    /// source folder.
    public static func copy(
        _ folder: ModelFolder, to destination: URL, replacingUNetWeightsFrom unet: Module,
        keepInFloat32: Set<String> = [], shouldStop: (() -> Bool)? = nil
    ) throws {
        let weights = folder.unetWeights.standardizedFileURL
        let original = try SafeTensorsFile(path: weights.path)
        var writer = DiffusersFolderWriter()
        let root = folder.url.standardizedFileURL
        for relative in try files(under: root) {
            let source = root.appendingPathComponent(relative)
            if source.standardizedFileURL.path == weights.path {
                // Keep each tensor's stored precision (fp16 folders stay fp16).
                writer.add(
                    relative,
                    .weights(unet, metadata: original.metadata) { key in
                        keepInFloat32.contains(key) ? .f32 : ((try? original.info(key).dtype) ?? .f32)
                    })
            } else {
                writer.add(relative, .copy(source))
            }
        }
        try writer.write(to: destination, existing: .refuse, sourceFolder: folder.url, shouldStop: shouldStop)
    }

    /// Relative paths of every file below `root` (folders are created as their files are written).
    static func files(under root: URL) throws -> [String] {
        let fm = FileManager.default
        guard let walker = fm.enumerator(at: root, includingPropertiesForKeys: [.isDirectoryKey], options: []) else {
            throw DiffusersFolderWriterError.writeFailed(path: root.path, reason: "the model folder cannot be listed")
        }
        var out: [String] = []
        let prefix = root.path.hasSuffix("/") ? root.path : root.path + "/"
        for case let url as URL in walker {
            let isDirectory = (try? url.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) ?? false
            guard !isDirectory else { continue }
            let path = url.standardizedFileURL.path
            guard path.hasPrefix(prefix) else { continue }
            out.append(String(path.dropFirst(prefix.count)))
        }
        return out.sorted()
    }
}
