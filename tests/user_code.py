"""A user's own Tune function trainable, as tests write it to a file and sweep it with
``--trainable``: one report an epoch, a checkpoint with each where the config asks for them
(``checkpoints``), every epoch it really trains appended to the file ``log`` (when given),
``sleep`` seconds an epoch."""

TRAINABLE = """
    import json, os, tempfile, time

    from ray import tune

    def objective(config):
        start, ckpt = 1, tune.get_checkpoint()
        if ckpt is not None:
            with ckpt.as_directory() as folder:
                start = json.load(open(os.path.join(folder, "state.json")))["epoch"] + 1
        trial = tune.get_context().get_trial_id()
        for epoch in range(start, config["epochs"] + 1):
            time.sleep(config.get("sleep", 0))
            loss = 1.0 / (1 + epoch * config["lr"] * 10) + 0.01 * abs(config["width"] - 16) / 16
            if config.get("log"):
                with open(config["log"], "a") as f:  # every epoch this trainable really trains
                    f.write(f"{trial} {epoch}\\n")
            if not config["checkpoints"]:
                tune.report({"loss": loss})
                continue
            with tempfile.TemporaryDirectory() as folder:
                with open(os.path.join(folder, "state.json"), "w") as f:
                    json.dump({"epoch": epoch}, f)
                tune.report({"loss": loss}, checkpoint=tune.Checkpoint.from_directory(folder))
"""
