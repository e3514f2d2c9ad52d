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
    /// The training configuration the checkpoint was made with (`TrainingCheckpoint.recorded`),
    /// so that a resume with another recipe is refused instead of quietly mixing two runs.
    /// `nil` in checkpoints written before it was stored.
    public var configuration: JSONValue?

    public init(step: Int, optimizerStep: Int, dataRNG: RNG, dropoutRNG: RNG, extra: [String: Double] = [:], configuration: JSONValue? = nil) {
        self.step = step; self.optimizerStep = optimizerStep; self.dataRNG = dataRNG; self.dropoutRNG = dropoutRNG; self.extra = extra
        self.configuration = configuration
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

    /// Settings that say how often to evaluate or save and change no number of the run: they
    /// may differ between the run that wrote a checkpoint and the one that resumes it.
    public static let cadenceKeys: Set<String> = ["checkpointEvery", "evalEvery"]

    /// `config` as a checkpoint stores it: its JSON, without the cadence settings, plus `adding`
    /// (what else fixes the run, such as a hash of the training data).
    public static func recorded<C: Encodable>(_ config: C, adding: [String: JSONValue] = [:]) throws -> JSONValue {
        guard let fields = try JSONValue.fields(of: config) else {
            throw RLHFError.invalidArgument("a training configuration must encode as a JSON object")
        }
        return .object(fields.filter { !cadenceKeys.contains($0.key) }.merging(adding) { _, added in added })
    }

    /// The weights' fingerprint, for a record's `*_weights` fields: a run that starts from (or
    /// scores with, or stays close to) other weights is another run.
    public static func weights(_ parameters: [(String, Tensor)]) -> JSONValue {
        var f = Fingerprint()
        for (name, t) in parameters {
            f.mix(name)
            f.mix(floats: UnsafeBufferPointer(t.buffer))
        }
        return f.json
    }

    /// A model's shape in words, for a record's `model` field: in a refusal it reads
    /// "4 layers × 128 wide, …" rather than as two hashes.
    public static func shape(_ c: GPT2Config) -> JSONValue {
        .string("\(c.nLayer) layers × \(c.nEmbd) wide, \(c.nHead) heads, context \(c.nPositions), vocabulary \(c.vocabSize), "
                + "dropout \(c.residPdrop)/\(c.embdPdrop)/\(c.attnPdrop)")
    }

    /// The fingerprint fields of the trainers' records, and what each stands for.
    static let fingerprints = [
        "initial_weights": "the starting model's weights", "reference_weights": "the reference model's weights",
        "reward_model_weights": "the reward model's weights", "prompts": "the prompts", "train_data": "the training data",
        "train_hash": "the training pairs", "eval_data": "the held-out data",
    ]

    /// Throws unless the checkpoint's record `saved` equals `now`, naming each field that
    /// differs, by `names` where it has one (a command-line tool's flag for the field, so the
    /// user reads "--lr", the name they typed, rather than "learningRate"). Compared on the
    /// fields the checkpoint has, so one from a build with fewer settings still resumes; one
    /// with no record at all (older builds) is trusted. Fields in `ignoring` may differ: the
    /// trainer knows they change no number of the steps already taken.
    public static func check(saved: JSONValue?, now: JSONValue, checkpoint dir: URL, names: [String: String] = [:],
                             ignoring: Set<String> = []) throws {
        guard case .object(let saved)? = saved, case .object(let current) = now else { return }
        let differ = saved.keys.sorted().filter { !ignoring.contains($0) && current[$0] != saved[$0] }
        guard !differ.isEmpty else { return }
        let fields = differ.map { key in
            // A fingerprint's two numbers say nothing to a reader; what it stands for does.
            if let meaning = fingerprints[key], current[key] != nil { return "\(meaning) (\(key)) differ from the run's" }
            return "\(names[key] ?? key) \(saved[key]!) in the checkpoint, \(current[key]?.description ?? "none") now"
        }
        throw RLHFError.invalidFile(path: dir.path, message: "was written by a run with other training settings or data (" + fields.joined(separator: "; ")
                                    + "); resuming would mix two runs. Resume with the same ones, or train into a new output folder")
    }

    /// Reads the state and restores the optimiser's moments; the caller loads the weights.
    /// With `configuration`, first checks the checkpoint was made with it (`check`, which may
    /// let the fields in `ignoring` differ).
    public static func load(from dir: URL, optimizer: AdamW, configuration: JSONValue? = nil,
                            names: [String: String] = [:], ignoring: Set<String> = []) throws -> TrainerState {
        let stateURL = dir.appendingPathComponent("trainer_state.json")
        guard let data = FileManager.default.contents(atPath: stateURL.path) else {
            throw RLHFError.io(path: stateURL.path, message: "no trainer state to resume from")
        }
        let state: TrainerState
        do { state = try JSONDecoder().decode(TrainerState.self, from: data) } catch {
            throw RLHFError.invalidFile(path: stateURL.path, message: "cannot decode trainer state (\(error))")
        }
        if let configuration { try check(saved: state.configuration, now: configuration, checkpoint: dir, names: names, ignoring: ignoring) }
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
