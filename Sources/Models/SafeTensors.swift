import Foundation
import Support
import Tensors
#if canImport(Glibc)
import Glibc
#endif

/// The safetensors format: an 8-byte little-endian header length, a JSON header
/// `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {…}}`, then raw
/// little-endian tensor bytes. Files are memory-mapped and every header field is validated
/// before a byte of data is trusted; errors name the file and the tensor.
public struct SafeTensors {
    public struct Entry: Sendable {
        public let dtype: String
        public let shape: [Int]
        public let begin: Int, end: Int
    }

    static let dtypeSizes: [String: Int] = ["F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2,
                                            "I8": 1, "U8": 1, "BOOL": 1, "U16": 2, "U32": 4, "U64": 8]

    public let path: String
    public let entries: [String: Entry]
    public let metadata: [String: String]
    let mapping: Mapping

    /// Keeps the file mapped for as long as any `SafeTensors` value refers to it.
    final class Mapping: @unchecked Sendable {
        let base: UnsafeRawPointer
        let size: Int
        init(base: UnsafeRawPointer, size: Int) { self.base = base; self.size = size }
        deinit { munmap(UnsafeMutableRawPointer(mutating: base), size) }
    }

    public var names: [String] { entries.keys.sorted() }
    public func dtype(_ name: String) -> String? { entries[name]?.dtype }
    public func shape(_ name: String) -> [Int]? { entries[name]?.shape }

    public static func load(_ url: URL) throws -> SafeTensors {
        let path = url.path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw RLHFError.io(path: path, message: "cannot open (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw RLHFError.io(path: path, message: "cannot stat") }
        let size = Int(st.st_size)
        guard size >= 8 else { throw RLHFError.invalidFile(path: path, message: "truncated safetensors file: \(size) bytes, too short for the 8-byte header length") }
        guard let raw = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), raw != MAP_FAILED else {
            throw RLHFError.io(path: path, message: "cannot memory-map (\(String(cString: strerror(errno))))")
        }
        let mapping = Mapping(base: UnsafeRawPointer(raw), size: size)
        let headerLength = Int(UInt64(littleEndian: mapping.base.loadUnaligned(as: UInt64.self)))
        guard headerLength > 0, headerLength <= size - 8 else {
            throw RLHFError.invalidFile(path: path, message: "header length \(headerLength) runs past the end of the \(size)-byte file (truncated or not safetensors)")
        }
        let headerData = Data(bytes: mapping.base + 8, count: headerLength)
        guard case .object(let header)? = try? JSONDecoder().decode(JSONValue.self, from: headerData) else {
            throw RLHFError.invalidFile(path: path, message: "header is not a valid JSON object")
        }
        let dataStart = 8 + headerLength
        let dataSize = size - dataStart
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                if case .object(let m) = value { for (k, v) in m { metadata[k] = v.stringValue ?? v.description } }
                continue
            }
            func fail(_ m: String) -> RLHFError { .invalidFile(path: path, message: "tensor \"\(name)\": \(m)") }
            guard let dtype = value["dtype"]?.stringValue else { throw fail("missing dtype") }
            guard let width = dtypeSizes[dtype] else { throw fail("unknown dtype \"\(dtype)\"") }
            guard case .array(let dims)? = value["shape"] else { throw fail("missing shape") }
            let shape = try dims.map { d -> Int in
                guard let i = d.intValue, i >= 0 else { throw fail("shape entry \(d) is not a non-negative integer") }
                return i
            }
            guard case .array(let offs)? = value["data_offsets"], offs.count == 2,
                  let begin = offs[0].intValue, let end = offs[1].intValue else { throw fail("data_offsets must be [begin, end]") }
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw fail("data_offsets [\(begin), \(end)] outside the \(dataSize) data bytes (truncated file?)")
            }
            let expected = shape.reduce(1, *) * width
            guard end - begin == expected else {
                throw fail("holds \(end - begin) bytes but \(dtype) \(shape) needs \(expected)")
            }
            entries[name] = Entry(dtype: dtype, shape: shape, begin: begin, end: end)
        }
        let sorted = entries.sorted { $0.value.begin < $1.value.begin }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.value.end > b.value.begin {
            throw RLHFError.invalidFile(path: path, message: "tensors \"\(a.key)\" and \"\(b.key)\" overlap")
        }
        return SafeTensors(path: path, entries: entries, metadata: metadata, mapping: mapping, dataStart: dataStart)
    }

    let dataStart: Int

    init(path: String, entries: [String: Entry], metadata: [String: String], mapping: Mapping, dataStart: Int) {
        self.path = path; self.entries = entries; self.metadata = metadata; self.mapping = mapping; self.dataStart = dataStart
    }

    /// The tensor as Float32 (F16, BF16, F64 and integer types converted), copied out of the map.
    public func tensor(_ name: String) throws -> Tensor {
        guard let e = entries[name] else {
            throw RLHFError.invalidFile(path: path, message: "no tensor named \"\(name)\"")
        }
        let t = Tensor(uninitialized: e.shape)
        let src = mapping.base + dataStart + e.begin
        let n = t.count, dst = t.pointer
        switch e.dtype {
        case "F32": for i in 0..<n { dst[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        case "F16": for i in 0..<n { dst[i] = halfToFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case "BF16": for i in 0..<n { dst[i] = Float(bitPattern: UInt32(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16) }
        case "F64": for i in 0..<n { dst[i] = Float(Double(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
        case "I64": for i in 0..<n { dst[i] = Float(Int64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
        case "I32": for i in 0..<n { dst[i] = Float(Int32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
        case "U8", "BOOL": for i in 0..<n { dst[i] = Float(src.load(fromByteOffset: i, as: UInt8.self)) }
        case "I8": for i in 0..<n { dst[i] = Float(src.load(fromByteOffset: i, as: Int8.self)) }
        default:
            throw RLHFError.invalidFile(path: path, message: "tensor \"\(name)\": dtype \(e.dtype) cannot be converted to F32")
        }
        return t
    }

    public func floats(_ name: String) throws -> [Float] { try tensor(name).toArray() }

    /// Writes tensors (in the given order) as F32, F16 or BF16, with `metadata`, atomically.
    public static func save(_ tensors: [(String, Tensor)], metadata: [String: String] = [:], dtype: String = "F32", to url: URL) throws {
        guard let width = ["F32": 4, "F16": 2, "BF16": 2][dtype] else {
            throw RLHFError.invalidArgument("safetensors: cannot write dtype \(dtype); use F32, F16 or BF16")
        }
        var header: [String: JSONValue] = [:]
        if !metadata.isEmpty { header["__metadata__"] = .object(metadata.mapValues { .string($0) }) }
        var offset = 0
        for (name, t) in tensors {
            guard header[name] == nil else { throw RLHFError.invalidArgument("safetensors: tensor name \"\(name)\" appears twice") }
            let bytes = t.count * width
            header[name] = .object(["dtype": .string(dtype), "shape": .array(t.shape.map { .number(Double($0)) }),
                                    "data_offsets": .array([.number(Double(offset)), .number(Double(offset + bytes))])])
            offset += bytes
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var headerBytes = try encoder.encode(JSONValue.object(header))
        // Pad with spaces to a multiple of 8 so the data that follows is 8-byte aligned.
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        var out = Data(capacity: 8 + headerBytes.count + offset)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(headerBytes)
        for (_, t) in tensors {
            let n = t.count
            switch dtype {
            case "F32":
                out.append(UnsafeBufferPointer(start: t.pointer, count: n))  // x86-64 and arm64 are little-endian
            case "F16":
                var buf = [UInt16](repeating: 0, count: n)
                for i in 0..<n { buf[i] = floatToHalf(t.pointer[i]).littleEndian }
                buf.withUnsafeBufferPointer { out.append($0) }
            default:
                var buf = [UInt16](repeating: 0, count: n)
                for i in 0..<n { buf[i] = floatToBFloat16(t.pointer[i]).littleEndian }
                buf.withUnsafeBufferPointer { out.append($0) }
            }
        }
        try AtomicFile.write(out, to: url)
    }
}

/// IEEE half → single, including subnormals, infinities and NaN.
@inline(__always)
func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exp = Int((h >> 10) & 0x1F)
    let frac = UInt32(h & 0x3FF)
    if exp == 0 {
        if frac == 0 { return Float(bitPattern: sign) }
        // Subnormal: value = frac · 2^-24.
        let v = Float(frac) * Float(sign: .plus, exponent: -24, significand: 1)
        return sign != 0 ? -v : v
    }
    if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (frac << 13)) }
    return Float(bitPattern: sign | UInt32(exp - 15 + 127) << 23 | (frac << 13))
}

/// Single → half with round-to-nearest-even (Swift's Float16 conversion does exactly that).
@inline(__always)
func floatToHalf(_ f: Float) -> UInt16 {
    #if arch(x86_64) || arch(arm64)
    return Float16(f).bitPattern
    #else
    fatalError("Float16 unavailable")
    #endif
}

/// Single → bfloat16 with round-to-nearest-even; NaN stays NaN.
@inline(__always)
func floatToBFloat16(_ f: Float) -> UInt16 {
    let bits = f.bitPattern
    if f.isNaN { return UInt16(bits >> 16) | 0x40 }
    let rounding = ((bits >> 16) & 1) + 0x7FFF
    return UInt16((bits &+ rounding) >> 16)
}
