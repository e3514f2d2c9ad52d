import Foundation

/// Small self-contained SVG charts for `report.html`: no scripts, no external files, so the
/// report opens offline and prints as it looks.
public enum SVGChart {
    public struct Series {
        public var name: String
        public var points: [(Double, Double)]
        public var color: String
        public var dashed = false
        public init(name: String, points: [(Double, Double)], color: String, dashed: Bool = false) {
            self.name = name; self.points = points; self.color = color; self.dashed = dashed
        }
    }

    public static let palette = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04"]

    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    static func niceTicks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
        guard hi > lo else { return [lo] }
        let raw = (hi - lo) / Double(count)
        let mag = pow(10, floor(log10(raw)))
        let step = [1, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? raw
        var t = ceil(lo / step) * step
        var out: [Double] = []
        while t <= hi + 1e-9 { out.append(t); t += step }
        return out
    }

    /// Tick labels with as many decimals as the ticks need to read as the values they mark, the
    /// same for every tick of an axis (2.25 and 2.50, not 2.2 and 2.5).
    static func tickLabels(_ ticks: [Double]) -> [String] {
        let decimals = (0...6).first { d in
            ticks.allSatisfy { v in let s = v * pow(10, Double(d)); return abs(s - s.rounded()) < 1e-6 * max(1, abs(s)) }
        } ?? 6
        return ticks.map { $0 == 0 ? "0" : String(format: "%.\(decimals)f", $0) }
    }

    /// A line chart with axes, ticks, a legend, optional horizontal reference lines and optional
    /// vertical markers (an event at some x, such as where reward hacking starts).
    public static func line(title: String, xLabel: String, yLabel: String, series: [Series],
                            references: [(label: String, y: Double, color: String)] = [],
                            markers: [(label: String, x: Double, color: String)] = [], width: Int = 560, height: Int = 300) -> String {
        let all = series.flatMap(\.points).filter { $0.0.isFinite && $0.1.isFinite }
        guard !all.isEmpty else { return "<p><em>\(esc(title)): no data</em></p>" }
        var xlo = all.map(\.0).min()!, xhi = all.map(\.0).max()!
        var ylo = (all.map(\.1) + references.map(\.y)).min()!, yhi = (all.map(\.1) + references.map(\.y)).max()!
        if xhi == xlo { xhi = xlo + 1; xlo -= 1 }
        // Single points (a scatter of models) would sit on the plot's edge, half drawn.
        if series.contains(where: { $0.points.count == 1 }) { let px = (xhi - xlo) * 0.05; xlo -= px; xhi += px }
        if yhi == ylo { yhi += 0.5; ylo -= 0.5 }
        let pad = (yhi - ylo) * 0.06
        ylo -= pad; yhi += pad
        // The legend sits between title and plot, wrapping onto more rows when it is wide.
        let l = 56.0, r = 16.0, b = 44.0
        var legend: [(x: Double, row: Int)] = []
        var lx = l, row = 0
        for sr in series {
            let w = 28 + Double(sr.name.count) * 6.5
            if lx + w > Double(width) - r && lx > l { lx = l; row += 1 }
            legend.append((lx, row))
            lx += w
        }
        let t = 48.0 + 16 * Double(row)
        let w = Double(width) - l - r, h = Double(height) - t - b
        func x(_ v: Double) -> Double { l + (v - xlo) / (xhi - xlo) * w }
        func y(_ v: Double) -> Double { t + (1 - (v - ylo) / (yhi - ylo)) * h }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(width) \(height)\" class=\"chart\" role=\"img\" aria-label=\"\(esc(title))\">"
        s += "<text x=\"\(l)\" y=\"20\" class=\"ct\">\(esc(title))</text>"
        let yTicks = niceTicks(ylo, yhi), xTicks = niceTicks(xlo, xhi)
        for (v, label) in zip(yTicks, tickLabels(yTicks)) {
            s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>", l, y(v), l + w, y(v))
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" class=\"tk\" text-anchor=\"end\">%@</text>", l - 6, y(v) + 4, label)
        }
        for (v, label) in zip(xTicks, tickLabels(xTicks)) {
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" class=\"tk\" text-anchor=\"middle\">%@</text>", x(v), t + h + 16, label)
        }
        s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>", l, t + h, l + w, t + h)
        s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>", l, t, l, t + h)
        s += String(format: "<text x=\"%.1f\" y=\"%d\" class=\"al\" text-anchor=\"middle\">%@</text>", l + w / 2, height - 8, esc(xLabel))
        s += String(format: "<text transform=\"translate(14 %.1f) rotate(-90)\" class=\"al\" text-anchor=\"middle\">%@</text>", t + h / 2, esc(yLabel))
        for ref in references {
            s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%@\" stroke-dasharray=\"5 4\" stroke-width=\"1.5\"/>", l, y(ref.y), l + w, y(ref.y), ref.color)
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" class=\"tk\" fill=\"%@\" text-anchor=\"end\">%@</text>", l + w - 4, y(ref.y) - 5, ref.color, esc(ref.label))
        }
        for m in markers where m.x.isFinite && m.x >= xlo && m.x <= xhi {
            s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%@\" stroke-dasharray=\"3 3\" stroke-width=\"1.5\"/>", x(m.x), t, x(m.x), t + h, m.color)
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" class=\"tk\" fill=\"%@\">%@</text>", x(m.x) + 4, t + 12, m.color, esc(m.label))
        }
        for sr in series {
            let pts = sr.points.filter { $0.0.isFinite && $0.1.isFinite }
            guard !pts.isEmpty else { continue }
            let d = pts.map { String(format: "%.1f,%.1f", x($0.0), y($0.1)) }.joined(separator: " ")
            s += "<polyline points=\"\(d)\" fill=\"none\" stroke=\"\(sr.color)\" stroke-width=\"2\"\(sr.dashed ? " stroke-dasharray=\"6 4\"" : "")/>"
            if pts.count <= 24 { for p in pts { s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%@\"/>", x(p.0), y(p.1), sr.color) } }
        }
        for (sr, pos) in zip(series, legend) {
            let ly = 35 + 16 * Double(pos.row)
            // The swatch is a stroke like the series', dashed where it is dashed.
            s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%@\" stroke-width=\"3\"%@/>",
                        pos.x, ly + 1.5, pos.x + 13, ly + 1.5, sr.color, sr.dashed ? " stroke-dasharray=\"4 2\"" : "")
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" class=\"lg\">%@</text>", pos.x + 16, ly + 5, esc(sr.name))
        }
        return s + "</svg>"
    }

    /// Horizontal bars, one per label, with the value printed at the end.
    public static func bars(title: String, items: [(label: String, value: Double, color: String)], width: Int = 560, format: String = "%.2f") -> String {
        let rowH = 28.0, l = 130.0, r = 60.0, t = 30.0
        let height = Int(t + rowH * Double(items.count) + 10)
        let lo = min(0, items.map(\.value).min() ?? 0), hi = max(0, items.map(\.value).max() ?? 1)
        let span = max(hi - lo, 1e-9), w = Double(width) - l - r
        func x(_ v: Double) -> Double { l + (v - lo) / span * w }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(width) \(height)\" class=\"chart\" role=\"img\" aria-label=\"\(esc(title))\">"
        s += "<text x=\"10\" y=\"20\" class=\"ct\">\(esc(title))</text>"
        for (i, it) in items.enumerated() {
            let yy = t + Double(i) * rowH
            let x0 = x(min(0, it.value)), x1 = x(max(0, it.value))
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" class=\"lg\" text-anchor=\"end\">%@</text>", l - 8, yy + 17, esc(it.label))
            s += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"18\" rx=\"3\" fill=\"%@\"/>", x0, yy + 4, max(x1 - x0, 1), it.color)
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" class=\"tk\">%@</text>", x1 + 6, yy + 17, String(format: format, it.value))
        }
        s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>", x(0), t, x(0), Double(height) - 6)
        return s + "</svg>"
    }
}
