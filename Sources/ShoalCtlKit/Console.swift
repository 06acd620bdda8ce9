import Foundation

/// Every line shoalctl prints goes straight to file descriptor 1, unbuffered: progress shows as it
/// happens when stdout is a pipe, and lines keep their order with the redrawn terminal output.
/// (Shadows `Swift.print` inside this module.)
func print(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
