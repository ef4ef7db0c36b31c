// swift-tools-version:6.0
import PackageDescription

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
        .library(name: "ErasureEvaluation", targets: ["ErasureEvaluation"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C interface to CBLAS + LAPACKE. Links the system `blas` (Debian alternatives: OpenBLAS here),
        // so another CBLAS implementation can be swapped in at link time.
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        // Softmax row kernels in C, built for baseline x86-64 and for AVX2 + FMA (picked from cpuid).
        .target(name: "CVectorMath"),
        // Built with the package's ordinary optimisation in every configuration: its preconditions
        // (shapes, ranks, axes) stay live in release builds.
        .target(name: "TensorEngine", dependencies: ["CBLAS", "CVectorMath"]),
        // The one atomic file writer (temporary file, fsync, rename, folder fsync); no dependencies.
        .target(name: "FileOutput"),
        .target(name: "SafeTensors", dependencies: ["FileOutput"]),
        // System zlib for PNG compression (Debian: zlib1g-dev).
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .target(name: "ImageIO", dependencies: ["CZlib", "FileOutput"]),
        .target(name: "NeuralNet", dependencies: ["TensorEngine", "SafeTensors"]),
        .target(name: "CLIP", dependencies: ["NeuralNet"], resources: [.copy("Resources")]),
        .target(name: "Diffusion", dependencies: ["NeuralNet", "CLIP", "ImageIO"]),
        .target(name: "ConceptErasure", dependencies: ["Diffusion"]),
        // Procedural shapes data set, its tokenizer vocabulary and attribute classifier (toy model, issue 5).
        .target(name: "Toy", dependencies: ["NeuralNet", "ImageIO", "CLIP", "Diffusion"], resources: [.copy("Resources")]),
        // The paper's evaluation protocol on the toy testbed (classifier accuracy, pixel metrics, Fréchet distance) and the demo.
        .target(name: "ErasureEvaluation", dependencies: ["ConceptErasure", "Toy"]),
        .executableTarget(
            name: "SepMECLI",
            dependencies: [
                "TensorEngine", "SafeTensors", "NeuralNet", "CLIP", "Diffusion", "ConceptErasure", "Toy", "ErasureEvaluation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(name: "TestSupport", dependencies: ["TensorEngine", "SafeTensors", "NeuralNet"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorEngineTests", dependencies: ["TensorEngine", "SafeTensors", "TestSupport"],
                    resources: [.copy("Resources")]),
        .testTarget(name: "SafeTensorsTests", dependencies: ["SafeTensors", "TestSupport", "TensorEngine"],
                    resources: [.copy("Resources")]),
        .testTarget(name: "ImageIOTests", dependencies: ["ImageIO", "FileOutput", "TensorEngine"], resources: [.copy("Resources")]),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet", "TestSupport"]),
        .testTarget(name: "DiffusionTests", dependencies: ["Diffusion", "TestSupport"], resources: [.copy("Resources")]),
        .testTarget(name: "ConceptErasureTests", dependencies: ["ConceptErasure", "TestSupport"], resources: [.copy("Resources")]),
        .testTarget(name: "SepMECLITests", dependencies: ["SepMECLI", "TestSupport"]),
        .testTarget(name: "ToyTests", dependencies: ["Toy", "CLIP", "Diffusion", "TestSupport"], resources: [.copy("Resources")]),
        .testTarget(name: "ErasureEvaluationTests", dependencies: ["ErasureEvaluation", "TestSupport"], resources: [.copy("Resources")]),
        .testTarget(name: "CLIPTests", dependencies: ["CLIP", "TestSupport"], resources: [.copy("Resources")]),
    ],
    swiftLanguageModes: [.v5]
)
