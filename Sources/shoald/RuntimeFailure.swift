/// A failure while running (not a mistake in the command line): ArgumentParser prints
/// "Error: <description>" and exits 1, without the usage text a `ValidationError` gets.
struct RuntimeFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) { self.description = description }
}
