fn main() -> anyhow::Result<()> {
    let engine = secdns::xdp::loader::XdpEngine::load()?;
    println!("loaded; counters {:?}", engine.counters()?);
    Ok(())
}
