import Foundation
import Tensors

/// Copies of a trainable model over which one optimiser step's micro-batches are spread, the
/// copies running side by side (`Parallel.jobs`), each on its share of the cores. Used by
/// `LanguageModelTrainer` and `PPOTrainer` (`lanes`), and by `rlhf bench model --lanes`.
///
/// Why: inside one step's kernels a small model uses the second core at low efficiency (the
/// demo's 4-layer model trains 1.55× as fast on two cores as on one), while two micro-batches
/// on one core each run nearly twice as fast. Lane j accumulates micro-batches j, j + lanes, …
/// in its own copy's gradients, which are then added to the model's in lane order, so the
/// arithmetic depends on the number of lanes and never on how many cores run them. Costs one
/// more copy of the weights, their gradients and the activations per extra lane.
final class MicroBatchLanes<Model> {
    /// A fresh copy of the model's shape (its weights are overwritten before every step).
    private let makeCopy: () -> Model
    /// The model's trainable parameters, in the same order for every copy.
    private let parameters: (Model) -> [(String, Tensor)]
    private var copies: [Model] = []

    init(copy: @escaping () -> Model, parameters: @escaping (Model) -> [(String, Tensor)]) {
        makeCopy = copy
        self.parameters = parameters
    }

    /// Runs `body(model, i)` for every micro-batch `i` in `0..<count` on `lanes` lanes (at most
    /// `count`), lane 0 on `model` itself and lane j on a copy brought up to date first (weights
    /// copied, gradients zeroed, then `prepare(copy)` for what else it must share with `model`).
    /// Afterwards `model`'s gradients hold the sum over all micro-batches. A lane stops at the
    /// first error its body throws, the others at the end of their micro-batches, and the first
    /// error is then rethrown (the gradients are partial: the step must not be taken).
    func run(_ model: Model, count: Int, lanes: Int, prepare: (Model) -> Void = { _ in },
             _ body: @escaping (Model, Int) throws -> Void) throws {
        let laneCount = max(1, min(lanes, count))
        if laneCount == 1 {
            for i in 0..<count { try body(model, i) }
            return
        }
        while copies.count < laneCount - 1 { copies.append(makeCopy()) }
        let models = [model] + copies.prefix(laneCount - 1)
        let master = parameters(model)
        for copy in models.dropFirst() {
            for ((_, p), (_, q)) in zip(master, parameters(copy)) {
                q.assign(p)
                q.zeroGrad()
            }
            prepare(copy)
        }
        try Parallel.jobs(models.indices.map { lane in {
            for i in stride(from: lane, to: count, by: laneCount) { try body(models[lane], i) }
        } }, lanes: laneCount)
        for copy in models.dropFirst() {
            for ((_, p), (_, q)) in zip(master, parameters(copy)) {
                guard let g = q.grad else { continue }
                if p.grad == nil { p.grad = Tensor(zeros: p.shape) }
                addInPlace(p.grad!.pointer, g.pointer, g.count)
            }
        }
    }
}
