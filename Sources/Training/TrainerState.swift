import Foundation
import Models
import Support
import Tensors

/// Everything besides the weights that a resumed run needs to continue exactly where it
/// stopped: the step, the optimiser's moments, and every random stream's position.
public struct TrainerState: Codable {
    public var step: Int
    public var optimizerStep: Int
    public var dataRNG: RNG
    public var dropoutRNG: RNG
    /// Free-form numbers a trainer wants back (e.g. best eval loss, KL coefficient).
    public var extra: [String: Double] = [:]

    public init(step: Int, optimizerStep: Int, dataRNG: RNG, dropoutRNG: RNG, extra: [String: Double] = [:]) {
        self.step = step; self.optimizerStep = optimizerStep; self.dataRNG = dataRNG; self.dropoutRNG = dropoutRNG; self.extra = extra
    }
}

/// A resumable checkpoint folder: `trainer_state.json` + `optimizer.safetensors` beside the
/// model files. Written under a temporary name and renamed, so a crash mid-write leaves the
/// previous checkpoint intact.
public enum TrainingCheckpoint {
    public static let folderName = "checkpoint-last"

    public static func save(to dir: URL, state: TrainerState, optimizer: AdamW, writeModel: (URL) throws -> Void) throws {
        try AtomicFile.writeDirectory(dir) { tmp in
            try writeModel(tmp)
            var tensors: [(String, Tensor)] = []
            for (i, (name, _)) in optimizer.parameters.enumerated() {
                tensors.append(("m.\(name)", optimizer.m[i]))
                tensors.append(("v.\(name)", optimizer.v[i]))
            }
            try SafeTensors.save(tensors, metadata: ["format": "pt", "step": "\(optimizer.step)"], to: tmp.appendingPathComponent("optimizer.safetensors"))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(try encoder.encode(state), to: tmp.appendingPathComponent("trainer_state.json"))
        }
    }

    /// Reads the state and restores the optimiser's moments; the caller loads the weights.
    public static func load(from dir: URL, optimizer: AdamW) throws -> TrainerState {
        let stateURL = dir.appendingPathComponent("trainer_state.json")
        guard let data = FileManager.default.contents(atPath: stateURL.path) else {
            throw RLHFError.io(path: stateURL.path, message: "no trainer state to resume from")
        }
        let state: TrainerState
        do { state = try JSONDecoder().decode(TrainerState.self, from: data) } catch {
            throw RLHFError.invalidFile(path: stateURL.path, message: "cannot decode trainer state (\(error))")
        }
        let st = try SafeTensors.load(dir.appendingPathComponent("optimizer.safetensors"))
        for (i, (name, p)) in optimizer.parameters.enumerated() {
            for (prefix, target) in [("m.", optimizer.m[i]), ("v.", optimizer.v[i])] {
                let t = try st.tensor(prefix + name)
                guard t.shape == p.shape else {
                    throw RLHFError.invalidFile(path: dir.path, message: "optimizer tensor \(prefix + name) has shape \(t.shape), expected \(p.shape)")
                }
                target.assign(t)
            }
        }
        optimizer.restore(step: state.optimizerStep)
        return state
    }
}
