//! The container files say what they do: the image runs as production unless told otherwise, and
//! the compose demo sets the local environment its `--demo` needs (production refuses demo mode).

fn read(name: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap()
}

#[test]
fn the_image_defaults_to_production() {
    let dockerfile = read("Dockerfile");
    let runtime = dockerfile
        .split("AS runtime")
        .nth(1)
        .expect("a runtime stage");
    assert!(
        runtime.contains("APP_ENVIRONMENT=production"),
        "the runtime image's default environment"
    );
    assert!(!runtime.contains("APP_ENVIRONMENT=local"));
    assert!(
        !std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(".sqlx")
            .exists()
            || dockerfile.contains(".sqlx/"),
        "the Dockerfile describes the offline query data as it is"
    );
    assert!(dockerfile.contains("There is no .sqlx/ folder"));
}

#[test]
fn the_compose_demo_runs_in_the_local_environment() {
    let compose = read("docker-compose.yml");
    assert!(compose.contains(r#"command: ["debrief", "run", "--demo"]"#));
    assert!(compose.contains("APP_ENVIRONMENT: local"));
}
