fn main() {
    println!("exoavs: see --help");
}
