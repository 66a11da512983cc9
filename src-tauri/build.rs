fn main() {
    // The config sits at the repository root, so its paths (ui/dist, assets/) resolve from there.
    tauri_build::try_build(tauri_build::Attributes::new().config_path("../tauri.conf.json"))
        .expect("tauri.conf.json at the repository root must be valid");
}
