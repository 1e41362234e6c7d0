//! The shell's init program, for this crate's tests and benchmarks; the
//! shipped binary runs the same code as `hardshell shell-init`.

fn main() {
    hardshell_sandbox::init::main()
}
