import CJQ

/// A minimal diff of two JSON values: one line per differing path.
enum JSONDiff {
    struct Line { var path: String; var expected: String?; var actual: String? }

    /// Both values borrowed. Object keys compare regardless of order.
    static func diff(_ expected: jv, _ actual: jv, path: String = "", into out: inout [Line], limit: Int = 40) {
        if out.count >= limit { return }
        let ke = jv_get_kind(expected), ka = jv_get_kind(actual)
        if ke == JV_KIND_OBJECT && ka == JV_KIND_OBJECT {
            var keys: [String] = []
            for obj in [expected, actual] {
                var it = jv_object_iter(obj)
                while jv_object_iter_valid(obj, it) != 0 {
                    let k = jv_object_iter_key(obj, it)
                    if let s = JV.text(k), !keys.contains(s) { keys.append(s) }
                    jv_free(k)
                    it = jv_object_iter_next(obj, it)
                }
            }
            for k in keys {
                let has1 = jv_object_has(jv_copy(expected), JV.string(k)) != 0
                let has2 = jv_object_has(jv_copy(actual), JV.string(k)) != 0
                let p = path + "." + k
                if has1 && has2 {
                    let a = JV.get(expected, k), b = JV.get(actual, k)
                    diff(a, b, path: p, into: &out, limit: limit)
                    jv_free(a); jv_free(b)
                } else if has1 {
                    let a = JV.get(expected, k); out.append(Line(path: p, expected: short(a), actual: nil)); jv_free(a)
                } else {
                    let b = JV.get(actual, k); out.append(Line(path: p, expected: nil, actual: short(b))); jv_free(b)
                }
            }
            return
        }
        if ke == JV_KIND_ARRAY && ka == JV_KIND_ARRAY {
            let n1 = JV.arrayCount(expected), n2 = JV.arrayCount(actual)
            for i in 0..<max(n1, n2) {
                let p = path + "[\(i)]"
                if i < n1 && i < n2 {
                    let a = JV.element(expected, i), b = JV.element(actual, i)
                    diff(a, b, path: p, into: &out, limit: limit)
                    jv_free(a); jv_free(b)
                } else if i < n1 {
                    let a = JV.element(expected, i); out.append(Line(path: p, expected: short(a), actual: nil)); jv_free(a)
                } else {
                    let b = JV.element(actual, i); out.append(Line(path: p, expected: nil, actual: short(b))); jv_free(b)
                }
            }
            return
        }
        if jv_equal(jv_copy(expected), jv_copy(actual)) == 0 {
            out.append(Line(path: path.isEmpty ? "." : path, expected: short(expected), actual: short(actual)))
        }
    }

    static func short(_ v: jv) -> String {
        let s = JSONWriter.string(v)
        return s.utf8.count > 160 ? String(s.prefix(157)) + "…" : s
    }

    /// Line diff of two texts (SSE files): the first differing lines, with context.
    static func textDiff(expected: String, actual: String, context: Int = 2, limit: Int = 12) -> [String] {
        let a = expected.split(separator: "\n", omittingEmptySubsequences: false)
        let b = actual.split(separator: "\n", omittingEmptySubsequences: false)
        var i = 0
        while i < a.count && i < b.count && a[i] == b[i] { i += 1 }
        var out: [String] = ["  first difference at line \(i + 1)"]
        for k in max(0, i - context)..<i { out.append("  " + a[k]) }
        for k in i..<min(a.count, i + limit / 2) { out.append("- " + a[k]) }
        for k in i..<min(b.count, i + limit / 2) { out.append("+ " + b[k]) }
        return out
    }
}
