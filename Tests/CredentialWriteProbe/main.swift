import Accounts
#if canImport(Glibc)
import Glibc
#endif

// A process that rewrites one credential file through the server's own write
// path (AuthDirectory.write → AtomicFile) as fast as it can, alternating two
// versions of ~256 KB each, until it is killed. CredentialCrashTests SIGKILLs
// it at random moments and checks the file is always one whole version.
//
//   credential-write-probe <auth-dir> <file-name>
let args = CommandLine.arguments
func say(_ fd: Int32, _ text: String) {
    var bytes = Array(text.utf8)
    _ = write(fd, &bytes, bytes.count)
}
guard args.count == 3 else {
    say(2, "usage: credential-write-probe <auth-dir> <file-name>\n")
    exit(2)
}
let directory = AuthDirectory(path: args[1])
func version(_ tag: String) -> [UInt8] {
    // A refresh token long enough that a write takes several system calls.
    let filler = String(repeating: tag, count: 256 << 10)
    return Array(#"{"type":"claude","email":"probe@example.com","version":"\#(tag)","refresh_token":"\#(filler)"}"#.utf8)
}
let versions = [version("a"), version("b")]
// One whole file exists before the test starts killing.
do { try directory.write(name: args[2], bytes: versions[1]) } catch {
    say(2, "\(error)\n")
    exit(1)
}
say(1, "writing\n")
var i = 0
while true {
    do { try directory.write(name: args[2], bytes: versions[i & 1]) } catch {
        say(2, "\(error)\n")
        exit(1)
    }
    i += 1
}
