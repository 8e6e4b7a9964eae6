fn main() { println!("madsim cfg: {}", cfg!(madsim)); }
