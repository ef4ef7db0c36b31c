// swift-tools-version:6.2
import PackageDescription

// Every Swift target of this package: warnings are errors (dependencies keep their own settings).
// Swift 6 language mode (complete concurrency checking) is the package default, set below.
let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]

// Layers (see README "Architecture"): CBLAS shim -> TensorEngine -> models -> ConceptErasure -> sepme CLI.
let package = Package(
    name: "sepme",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "sepme", targets: ["SepMECLI"]),
        .library(name: "TensorEngine", targets: ["TensorEngine"]),
        .library(name: "SafeTensors", targets: ["SafeTensors"]),
        .library(name: "NeuralNet", targets: ["NeuralNet"]),
        .library(name: "CLIP", targets: ["CLIP"]),
        .library(name: "Diffusion", targets: ["Diffusion"]),
        .library(name: "ConceptErasure", targets: ["ConceptErasure"]),
        .library(name: "ErasureEvaluation", targets: ["ErasureEvaluation"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        // C interface to CBLAS + LAPACKE. Links the system `blas` (Debian alternatives: OpenBLAS here),
        // so another CBLAS implementation can be swapped in at link time.
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        // Softmax row kernels in C, built for baseline x86-64 and for AVX2 + FMA (picked from cpuid).
        .target(name: "CVectorMath"),
        // BF16 matrix product (AVX-512 BF16, AVX2 + FMA or scalar micro-kernels) and the peak-rate loops,
        // in C with target attributes, picked from cpuid at run time.
        .target(name: "CMatrixKernels"),
        // Built with the package's ordinary optimisation in every configuration: its preconditions
        // (shapes, ranks, axes) stay live in release builds.
        .target(name: "TensorEngine", dependencies: ["CBLAS", "CVectorMath", "CMatrixKernels"], swiftSettings: strict),
        // The one atomic file writer (temporary file, fsync, rename, folder fsync); no dependencies.
        .target(name: "FileOutput", swiftSettings: strict),
        .target(name: "SafeTensors", dependencies: ["FileOutput"], swiftSettings: strict),
        // System zlib for PNG compression (Debian: zlib1g-dev).
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .target(name: "ImageIO", dependencies: ["CZlib", "FileOutput"], swiftSettings: strict),
        .target(name: "NeuralNet", dependencies: ["TensorEngine", "SafeTensors"], swiftSettings: strict),
        .target(name: "CLIP", dependencies: ["NeuralNet"], resources: [.copy("Resources")], swiftSettings: strict),
        .target(name: "Diffusion", dependencies: ["NeuralNet", "CLIP", "ImageIO"], resources: [.copy("Resources")], swiftSettings: strict),
        .target(name: "ConceptErasure", dependencies: ["Diffusion", "FileOutput"], swiftSettings: strict),
        // Procedural shapes data set, its tokenizer vocabulary and attribute classifier (toy model, issue 5).
        .target(name: "Toy", dependencies: ["NeuralNet", "ImageIO", "CLIP", "Diffusion"], resources: [.copy("Resources")], swiftSettings: strict),
        // The paper's evaluation protocol on the toy testbed (classifier accuracy, pixel metrics, Fréchet distance) and the demo.
        .target(name: "ErasureEvaluation", dependencies: ["ConceptErasure", "Toy"], swiftSettings: strict),
        .executableTarget(
            name: "SepMECLI",
            dependencies: [
                "TensorEngine", "SafeTensors", "NeuralNet", "CLIP", "Diffusion", "ConceptErasure", "Toy", "ErasureEvaluation",
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ],
            swiftSettings: strict
        ),
        .target(name: "TestSupport", dependencies: ["TensorEngine", "SafeTensors", "NeuralNet"], path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(
            name: "TensorEngineTests", dependencies: ["TensorEngine", "SafeTensors", "TestSupport"],
            resources: [.copy("Resources")], swiftSettings: strict),
        .testTarget(
            name: "SafeTensorsTests", dependencies: ["SafeTensors", "TestSupport", "TensorEngine"],
            resources: [.copy("Resources")], swiftSettings: strict),
        .testTarget(
            name: "ImageIOTests", dependencies: ["ImageIO", "FileOutput", "TensorEngine"], resources: [.copy("Resources")], swiftSettings: strict),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "DiffusionTests", dependencies: ["Diffusion", "TestSupport"], resources: [.copy("Resources")], swiftSettings: strict),
        .testTarget(
            name: "ConceptErasureTests", dependencies: ["ConceptErasure", "TestSupport"], resources: [.copy("Resources")], swiftSettings: strict),
        .testTarget(name: "SepMECLITests", dependencies: ["SepMECLI", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "ToyTests", dependencies: ["Toy", "CLIP", "Diffusion", "TestSupport"], resources: [.copy("Resources")], swiftSettings: strict),
        .testTarget(
            name: "ErasureEvaluationTests", dependencies: ["ErasureEvaluation", "TestSupport"], resources: [.copy("Resources")], swiftSettings: strict
        ),
        .testTarget(name: "CLIPTests", dependencies: ["CLIP", "TestSupport"], resources: [.copy("Resources")], swiftSettings: strict)
    ],
    swiftLanguageModes: [.v6]
)
