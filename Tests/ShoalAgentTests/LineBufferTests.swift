import Testing

@testable import ShoalAgent

@Suite struct LineBufferTests {
    /// Lines split anywhere across chunks come out whole and in order; a long line arriving in many
    /// small chunks is one line (the reader no longer rescans it from its start on every chunk).
    @Test func linesSplitAcrossChunksComeOutWhole() {
        let buffer = LineBuffer()
        #expect(buffer.append(Array("{\"a\":1}\n{\"b\"".utf8)) == ["{\"a\":1}"])
        #expect(buffer.append(Array(":2}".utf8)).isEmpty)
        #expect(buffer.append(Array("\n\nx\ny".utf8)) == ["{\"b\":2}", "", "x"])
        let long = String(repeating: "z", count: 100_000)
        var lines: [String] = []
        for chunk in Array((long + "\n").utf8).chunked(by: 1000) { lines += buffer.append(chunk) }
        #expect(lines == ["y" + long])
    }
}

extension Array {
    fileprivate func chunked(by size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
