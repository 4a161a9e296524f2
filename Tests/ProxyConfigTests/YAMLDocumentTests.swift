import Testing
@testable import ProxyConfig

/// The source bytes a range covers.
private func slice(_ text: String, _ range: Range<Int>) -> String {
    let bytes = Array(text.utf8)
    return String(decoding: bytes[range], as: UTF8.self)
}

@Suite struct YAMLDocumentTests {
    @Test func scalarsKeepTheirStyleAndResolveByIt() throws {
        let doc = try YAMLDocument(parsing: """
            port: 8080
            quoted: "8080"
            single: '8080'
            tilde: ~
            word: null
            empty:
            yes: true
            float: 2.5
            hex: 0x1F
            text: hello world
            block: |
              line one
              line two
            """)
        let root = try #require(doc.root)
        #expect(root["port"]?.int == 8080)
        #expect(root["port"]?.scalar?.style == .plain)
        #expect(root["quoted"]?.int == nil)
        #expect(root["quoted"]?.string == "8080")
        #expect(root["quoted"]?.scalar?.style == .doubleQuoted)
        #expect(root["single"]?.resolved == .string("8080"))
        #expect(root["tilde"]?.isNull == true)
        #expect(root["word"]?.isNull == true)
        #expect(root["empty"]?.isNull == true)
        #expect(root["empty"]?.string == nil)
        #expect(root["yes"]?.bool == true)
        #expect(root["float"]?.double == 2.5)
        #expect(root["float"]?.int == nil)
        #expect(root["hex"]?.int == 31)
        #expect(root["text"]?.string == "hello world")
        #expect(root["block"]?.string == "line one\nline two")  // clipped: the text ends without a line break
        #expect(root["block"]?.scalar?.style == .literal)
        #expect(root["missing"] == nil)
        // Keys keep their order.
        #expect(root.mapping?.map { $0.key.string } == ["port", "quoted", "single", "tilde", "word", "empty", "yes", "float", "hex", "text", "block"])
    }

    @Test func quotedNullAndBoolStayStrings() throws {
        let doc = try YAMLDocument(parsing: "a: \"null\"\nb: 'true'\nc: \"~\"\n")
        #expect(doc.root?["a"]?.resolved == .string("null"))
        #expect(doc.root?["b"]?.bool == nil)
        #expect(doc.root?["b"]?.string == "true")
        #expect(doc.root?["c"]?.isNull == false)
    }

    @Test func explicitTagsOverrideTheStyle() throws {
        let doc = try YAMLDocument(parsing: "a: !!str 8080\nb: !!int \"42\"\nc: ! 12\nd: !!bool \"false\"\n")
        #expect(doc.root?["a"]?.int == nil)
        #expect(doc.root?["a"]?.string == "8080")
        #expect(doc.root?["a"]?.tag == YAMLTag.str)
        #expect(doc.root?["b"]?.int == 42)
        #expect(doc.root?["c"]?.resolved == .string("12"))
        #expect(doc.root?["d"]?.bool == false)
    }

    @Test func sequencesAndFlowCollections() throws {
        let doc = try YAMLDocument(parsing: "list:\n  - a\n  - 2\nflow: [x, \"y\", {k: v}]\n")
        let root = try #require(doc.root)
        #expect(root["list"]?.sequence?.count == 2)
        #expect(root["list"]?[0]?.string == "a")
        #expect(root["list"]?[1]?.int == 2)
        #expect(root["list"]?[2] == nil)
        #expect(root["list"]?.isFlow == false)
        #expect(root["flow"]?.isFlow == true)
        #expect(root["flow"]?[2]?["k"]?.string == "v")
        // A flow collection's range covers its brackets.
        #expect(doc.source(try #require(root["flow"]).byteRange) == "[x, \"y\", {k: v}]")
    }

    @Test func emptyAndCommentOnlyStreamsHaveNoDocument() throws {
        #expect(try YAMLDocument(parsing: "").documents.isEmpty)
        #expect(try YAMLDocument(parsing: "# only a comment\n\n   # another\n").root == nil)
        #expect(try YAMLDocument(parsing: "a: 1\n---\nb: 2\n").documents.count == 2)
    }

    @Test func scalarByteOffsetsPointAtTheirText() throws {
        // A BOM, multi-byte characters before and inside values, CRLF line ends.
        let text = "\u{FEFF}# é中 comment\r\nkey: \"vé\\\"x\" # trailing\r\nplain: plain é 中\r\nnested:\r\n  inner: 'it''s'\r\n  n: 42\r\nlist: [ab, \"cd\"]\r\n"
        let doc = try YAMLDocument(parsing: text)
        let root = try #require(doc.root)

        let key = try #require(root["key"])
        #expect(slice(text, key.byteRange) == "\"vé\\\"x\"")
        #expect(key.string == "vé\"x")
        #expect(key.start.line == 2)
        #expect(key.start.column == 6)

        let plain = try #require(root["plain"])
        #expect(slice(text, plain.byteRange) == "plain é 中")
        #expect(plain.start.line == 3)

        let inner = try #require(root["nested"]?["inner"])
        #expect(slice(text, inner.byteRange) == "'it''s'")
        #expect(inner.string == "it's")
        #expect(inner.start.line == 5)
        #expect(inner.start.column == 10)

        let n = try #require(root["nested"]?["n"])
        #expect(slice(text, n.byteRange) == "42")

        let cd = try #require(root["list"]?[1])
        #expect(slice(text, cd.byteRange) == "\"cd\"")

        // Keys have ranges too.
        let plainKey = try #require(root.pair(forKey: "plain")?.key)
        #expect(slice(text, plainKey.byteRange) == "plain")

        // Replacing a scalar's bytes edits only that value; comments survive.
        var bytes = Array(text.utf8)
        bytes.replaceSubrange(n.byteRange, with: Array("7".utf8))
        let edited = String(decoding: bytes, as: UTF8.self)
        #expect(edited.contains("# é中 comment"))
        #expect(edited.contains("# trailing"))
        #expect(try YAMLDocument(parsing: edited).root?["nested"]?["n"]?.int == 7)
    }

    @Test func contentRangeSkipsAnchorsAndTags() throws {
        let text = "a: &k \"sk-1\"\nb: !!str  12\nc: plain\n"
        let doc = try YAMLDocument(parsing: text)
        let a = try #require(doc.root?["a"])
        #expect(slice(text, a.byteRange) == "&k \"sk-1\"")
        #expect(slice(text, a.contentByteRange) == "\"sk-1\"")
        #expect(a.contentStart.column == 7)
        let b = try #require(doc.root?["b"])
        #expect(slice(text, b.contentByteRange) == "12")
        let c = try #require(doc.root?["c"])
        #expect(c.contentByteRange == c.byteRange)
    }

    @Test func blockCollectionsEndAtTheirLastEntry() throws {
        let text = "outer:\n  a: 1\n  b: [2]\n\n# comment\nnext: 3\n"
        let doc = try YAMLDocument(parsing: text)
        let outer = try #require(doc.root?["outer"])
        #expect(slice(text, outer.byteRange) == "a: 1\n  b: [2]")
        // Ending in an alias: the collection ends after `*name`, not at the anchor's definition.
        let aliased = "x: &v 1\nm:\n  k: *v\n# after\n"
        let m = try #require(try YAMLDocument(parsing: aliased).root?["m"])
        #expect(slice(aliased, m.byteRange) == "k: *v")
    }

    @Test func emptyValuesSitRightAfterTheirIndicator() throws {
        // The management API inserts a value into an empty range: it must be after `:`, not at the next key.
        let text = "outer:\n  a: 1\n  b:\n\n# c\nnext: 3\nlist:\n  -\n  - x\n"
        let doc = try YAMLDocument(parsing: text)
        let b = try #require(doc.root?["outer"]?["b"])
        #expect(b.isNull)
        #expect(b.byteRange.isEmpty)
        #expect(slice(text, 0..<b.start.offset).hasSuffix("  b:"))
        #expect(b.start.line == 3 && b.start.column == 5)
        let item = try #require(doc.root?["list"]?[0])
        #expect(item.isNull)
        #expect(slice(text, 0..<item.start.offset).hasSuffix("\n  -"))
    }

    @Test func anchorsAndAliases() throws {
        let text = "base: &b\n  x: 1\n  y: two\ncopy: *b\nkey: &k secret\nagain: *k\n"
        let doc = try YAMLDocument(parsing: text)
        let root = try #require(doc.root)
        #expect(root["copy"]?["x"]?.int == 1)
        #expect(root["copy"]?["y"]?.string == "two")
        #expect(root["again"]?.string == "secret")
        let again = try #require(root["again"])
        #expect(again.alias?.name == "k")
        #expect(slice(text, try #require(again.alias).start.offset..<again.alias!.end.offset) == "*k")
        // The aliased node's own range is the anchor's definition.
        #expect(slice(text, again.contentByteRange) == "secret")
        #expect(root["base"]?.anchor == "b")
        #expect(root["base"]?.alias == nil)
    }

    @Test func unknownAndRecursiveAliasesAreErrors() {
        #expect(throws: YAMLError.self) { try YAMLDocument(parsing: "a: *nope\n") }
        do {
            _ = try YAMLDocument(parsing: "a: 1\nb: *nope\n")
            Issue.record("expected an error")
        } catch {
            #expect(error.line == 2)
            #expect(error.column == 4)
            #expect(error.message.contains("unknown alias *nope"))
        }
        #expect(throws: YAMLError.self) { try YAMLDocument(parsing: "a: &x [1, *x]\n") }
    }

    @Test func mergeKeysWithLocalOverrides() throws {
        let text = """
            defaults: &defaults
              base-url: https://a.example
              timeout: 5
              retries: 1
            extra: &extra
              retries: 9
              colour: red
            one:
              <<: *defaults
              timeout: 10
            two:
              name: two
              <<: [*extra, *defaults]
            """
        let doc = try YAMLDocument(parsing: text)
        let root = try #require(doc.root)
        let one = try #require(root["one"])
        #expect(one["base-url"]?.string == "https://a.example")
        #expect(one["timeout"]?.int == 10)  // local wins, even written after the merge
        #expect(one["retries"]?.int == 1)
        #expect(one["<<"] == nil)
        #expect(one.mapping?.map(\.key.string) == ["base-url", "retries", "timeout"])
        #expect(one.pair(forKey: "base-url")?.isMerged == true)
        #expect(one.pair(forKey: "timeout")?.isMerged == false)
        let two = try #require(root["two"])
        #expect(two["retries"]?.int == 9)  // earlier merged mapping wins
        #expect(two["colour"]?.string == "red")
        #expect(two["timeout"]?.int == 5)
        #expect(two.mapping?.map(\.key.string) == ["name", "retries", "colour", "base-url", "timeout"])
        // A quoted "<<" is an ordinary key.
        let quoted = try YAMLDocument(parsing: "a: &a {x: 1}\nb:\n  \"<<\": *a\n")
        #expect(quoted.root?["b"]?["<<"]?["x"]?.int == 1)
        #expect(quoted.root?["b"]?["x"] == nil)
    }

    @Test func badMergeValueIsAnError() {
        #expect(throws: YAMLError.self) { try YAMLDocument(parsing: "a:\n  <<: 3\n") }
        #expect(throws: YAMLError.self) { try YAMLDocument(parsing: "a:\n  <<: [1]\n") }
    }

    @Test func duplicateKeysAreAnError() {
        do {
            _ = try YAMLDocument(parsing: "port: 1\ndebug: true\nport: 2\n")
            Issue.record("expected an error")
        } catch {
            #expect(error.line == 3)
            #expect(error.column == 1)
            #expect(error.message == "duplicate key `port` (first defined at line 1)")
        }
    }

    @Test func syntaxErrorsCarryLibyamlLineAndColumn() {
        do {
            _ = try YAMLDocument(parsing: "a: 1\nb: [1, 2\nc: 3\n")
            Issue.record("expected an error")
        } catch {
            #expect(error.line == 3)
            #expect(error.column == 2)
            #expect(error.message == "did not find expected ',' or ']'")
            #expect(error.context == "while parsing a flow sequence")
            #expect(error.contextMark?.line == 2)
            #expect(error.description.hasPrefix("YAML error at line 3, column 2: did not find expected ',' or ']'"))
        }
        do {
            _ = try YAMLDocument(parsing: "a: 1\n  b: 2\n")
            Issue.record("expected an error")
        } catch {
            #expect(error.line == 2)
            #expect(error.column == 4)
            #expect(error.message == "mapping values are not allowed in this context")
        }
    }

    @Test func controlCharactersAreReaderErrors() {
        do {
            _ = try YAMLDocument(parsing: "a: 1\nb: x\u{01}y\n")
            Issue.record("expected an error")
        } catch {
            #expect(error.line == 2)
            #expect(error.message.contains("control characters"))
        }
    }

    @Test func integerResolution() {
        #expect(YAMLScalar.parseInt("1_000") == 1000)
        #expect(YAMLScalar.parseInt("-42") == -42)
        #expect(YAMLScalar.parseInt("0o17") == 15)
        #expect(YAMLScalar.parseInt("0b101") == 5)
        #expect(YAMLScalar.parseInt("99999999999999999999") == nil)
        #expect(YAMLScalar.parseInt("12a") == nil)
        #expect(YAMLScalar.parseInt("") == nil)
        #expect(YAMLScalar.parseFloat("1e3") == 1000)
        #expect(YAMLScalar.parseFloat("1.2.3") == nil)
        #expect(YAMLScalar("8317.0").resolved == .float(8317))
    }

    @Test func quotingEscapes() {
        #expect(YAMLDocument.quoted("a\"b\\c\nd\u{01}") == "\"a\\\"b\\\\c\\nd\\x01\"")
    }
}
