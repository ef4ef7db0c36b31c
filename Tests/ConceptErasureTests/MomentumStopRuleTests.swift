import ConceptErasure
import XCTest

/// The stop rule of method.md §2 on synthetic loss sequences.
final class MomentumStopRuleTests: XCTestCase {
    func testNeverStopsBeforeMinimumIterations() {
        var rule = MomentumStopRule(alpha: 0.9, tau: 1e-4, minIterations: 10, maxIterations: 1000)
        for i in 1...9 { XCTAssertEqual(rule.record(-1), .continueTraining, "iteration \(i)") }
        XCTAssertEqual(rule.record(-1), .converged)
        XCTAssertEqual(rule.iterations, 10)
    }

    func testMomentumFollowsTheRecurrence() {
        var rule = MomentumStopRule(alpha: 0.9, tau: -100, minIterations: 1, maxIterations: 100)
        let losses = [0.5, 0.2, -0.1, 0.3]
        var m = losses[0]
        _ = rule.record(losses[0])
        XCTAssertEqual(rule.momentum!, m, accuracy: 1e-15)
        for l in losses.dropFirst() {
            m = 0.9 * m + 0.1 * l
            _ = rule.record(l)
            XCTAssertEqual(rule.momentum!, m, accuracy: 1e-15)
        }
    }

    func testStopsWhenTheSmoothedLossCrossesTau() {
        // Loss decays geometrically from 1e-2; the momentum lags behind the raw loss.
        var rule = MomentumStopRule(alpha: 0.9, tau: 1e-4, minIterations: 10, maxIterations: 1000)
        var stoppedAt: Int?
        var firstRawBelow: Int?
        for n in 0..<1000 {
            let loss = 1e-2 * pow(0.9, Double(n))
            if firstRawBelow == nil && loss <= 1e-4 { firstRawBelow = n + 1 }
            if rule.record(loss) == .converged {
                stoppedAt = n + 1
                break
            }
        }
        XCTAssertNotNil(stoppedAt)
        XCTAssertGreaterThan(stoppedAt!, firstRawBelow!, "the momentum statistic lags the raw loss")
        XCTAssertLessThanOrEqual(rule.momentum!, 1e-4)
    }

    func testANoisyLossThatDipsOnceDoesNotStop() {
        var rule = MomentumStopRule(alpha: 0.9, tau: 1e-4, minIterations: 10, maxIterations: 40)
        var decisions: [MomentumStopRule.Decision] = []
        for n in 0..<40 { decisions.append(rule.record(n == 20 ? -1e-3 : 1e-2)) }
        XCTAssertFalse(decisions.contains(.converged))
        XCTAssertEqual(decisions.last, .reachedMaxIterations)
    }
}
