//! Messages a newcomer reads (issue 14): a file the config names is shown
//! as it was written, and a CPU or device listed twice in one cell says
//! so.

mod common;

use bulkhead_config::load;
use common::{Scratch, arm_config, assert_contains, real_platform, rejected};

#[test]
fn a_missing_image_is_shown_as_written_and_where_that_is() {
    let scratch = Scratch::new("as-written");
    std::fs::create_dir_all(scratch.0.join("configs")).unwrap();
    std::fs::write(
        scratch.0.join("platforms/test.toml"),
        real_platform("qemu-virt-aarch64"),
    )
    .unwrap();
    let config = arm_config("", "").replace(
        "name = \"alpha\"\ncpus = [0]\ndevices = [\"rtc\"]\nimage = { path = \"tiny.bin\"",
        "name = \"alpha\"\ncpus = [0]\ndevices = [\"rtc\"]\nimage = { path = \"../images/hello.bin\"",
    );
    assert!(config.contains("../images/hello.bin"));
    let path = scratch.0.join("configs/product.toml");
    std::fs::write(&path, config).unwrap();
    let errors = load(&path, &scratch.options(true)).unwrap_err().to_string();
    assert_contains(
        &errors,
        "cell `alpha`: cannot read image `../images/hello.bin` (images/hello.bin): ",
    );
    assert_contains(&errors, "relative to the config file's folder");
}

#[test]
fn a_cpu_listed_twice_in_one_cell_says_so() {
    let config = arm_config("", "").replacen("cpus = [0]", "cpus = [0, 0]", 1);
    let errors = rejected(&real_platform("qemu-virt-aarch64"), &config);
    assert_contains(&errors, "error: CPU 0 is listed twice in cell `alpha`");
    assert_contains(&errors, "note: first listed here");
    assert!(!errors.contains("and by cell `alpha`"), "{errors}");
}

#[test]
fn a_device_listed_twice_in_one_cell_says_so() {
    let config =
        arm_config("", "").replacen("devices = [\"rtc\"]", "devices = [\"rtc\", \"rtc\"]", 1);
    let errors = rejected(&real_platform("qemu-virt-aarch64"), &config);
    assert_contains(
        &errors,
        "error: device `rtc` is listed twice in cell `alpha`",
    );
    assert!(!errors.contains("and to cell `alpha`"), "{errors}");
}
