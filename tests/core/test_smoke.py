import json


def test_tiny_lsgan_run_writes_run_folder(run_tiny):
    trainer = run_tiny(["lsgan"])
    d = trainer.run_dir
    assert (d / "config.toml").is_file()
    assert (d / "checkpoint.pt").is_file()
    assert (d / "losses.png").is_file()
    rows = [json.loads(l) for l in (d / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert {"d_loss", "g_loss", "real_score", "fake_score", "grad_norm_g", "grad_norm_d", "time"} <= set(rows[0])
    assert sorted(p.name for p in (d / "samples").iterdir()) == ["step_000003.png"]
