from __future__ import annotations

import gzip
import math

import numpy as np
import pytest
import torch

from conftest import shared_file
from sweeplab import engine
from sweeplab.data import seqdata
from sweeplab.data.seqdata import EOS, PAD, generated_task, load_parallel
from sweeplab.errors import UserError
from sweeplab.local_training import LocalSession
from sweeplab.models.seq2seq import Seq2seq
from sweeplab.trainables import seq2seq

TINY = {
    "epochs": 1,
    "train_size": 64,
    "val_size": 16,
    "test_size": 16,
    "min_len": 3,
    "max_len": 6,
    "hidden_size": 16,
    "embedding_dim": 8,
    "batch_size": 32,
    "eval_examples": 8,
}


def fit(tmp_path, **overrides):
    cfg = seq2seq.Seq2seqConfig.from_dict({**TINY, **overrides})
    session = LocalSession(tmp_path / "run", cpus=1, echo=lambda line: None, device="cpu")
    return engine.fit(seq2seq.Seq2seqTask, cfg, seq2seq.load_data(cfg), session, engine.Monitor("val_bleu", "max"))


@pytest.mark.parametrize("p", [0.0, 1.0])
@pytest.mark.parametrize("attention", ["none", "additive", "dot", "general"])
def test_every_attention_trains_with_and_without_teacher_forcing(tmp_path, attention, p):
    row = fit(tmp_path, attention=attention, teacher_forcing=p, cell="gru" if attention == "dot" else "lstm")
    for key in ("train_loss", "val_loss", "val_perplexity", "val_bleu", "test_bleu", "test_edit_distance"):
        assert math.isfinite(row[key]), key
    assert 0 <= row["val_exact_match"] <= 1 and 0 <= row["test_edit_distance"] <= 1


def test_teacher_forcing_decays_linearly_over_the_epochs(tmp_path):
    cfg = seq2seq.Seq2seqConfig.from_dict({**TINY, "epochs": 3, "teacher_forcing": 1.0, "tf_decay_to": 0.0})
    session = LocalSession(tmp_path / "run", cpus=1, echo=lambda line: None, device="cpu")
    engine.fit(seq2seq.Seq2seqTask, cfg, seq2seq.load_data(cfg), session, engine.Monitor("val_bleu", "max"))
    assert [r["teacher_forcing"] for r in session.history] == [1.0, 0.5, 0.0]


def test_truncated_bptt_runs_one_backward_per_chunk(tmp_path, monkeypatch):
    calls = []
    real = torch.Tensor.backward

    def counting(self, *args, **kwargs):
        calls.append(kwargs.get("retain_graph"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "backward", counting)
    # length 40 targets + <eos> = 41 steps in chunks of 10: 5 chunks a batch; 2 batches
    row = fit(
        tmp_path,
        task="copy",
        min_len=40,
        max_len=40,
        train_size=64,
        tbptt_length=10,
        recurrent_dropout=0.3,
        layers=2,
        teacher_forcing=0.5,
    )
    assert math.isfinite(row["train_loss"]) and math.isfinite(row["val_loss"])
    assert len(calls) == 2 * 5
    assert calls[:5] == [True, True, True, True, False]  # the encoder's graph is freed after the last chunk


def test_chunked_loss_equals_the_whole_target_loss():
    """Truncation changes gradients, not the loss: the chunks add up to the full mean."""
    data = generated_task("reverse", sizes={"train": 8, "val": 1, "test": 1}, min_len=12, max_len=12)
    cfg = seq2seq.Seq2seqConfig(**TINY)
    task = seq2seq.Seq2seqTask(cfg, data, LocalSession("/tmp/unused-seq2seq", device="cpu"))
    losses = []
    for width in (0, 5):
        torch.manual_seed(0)
        model = task.build_model().eval()  # no dropout: both runs see the same network
        task.cfg = seq2seq.Seq2seqConfig(**{**TINY, "tbptt_length": width})
        opt = torch.optim.SGD(model.parameters(), lr=0.0)
        batch = tuple(t[:8] for t in task.splits["train"])
        losses.append(task.manual_step(model, batch, {"": opt})["loss"])
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)


def test_beam_of_one_is_greedy_and_wider_beams_decode():
    data = generated_task("reverse", sizes={"train": 1, "val": 12, "test": 1}, min_len=3, max_len=9)
    src, src_len = (torch.from_numpy(a) for a in (data.splits["val"].src, data.splits["val"].src_len))
    for attention in ("none", "general"):
        torch.manual_seed(1)
        model = Seq2seq(len(data.src_vocab), len(data.tgt_vocab), "lstm", 8, 16, 2, attention).eval()
        greedy = [data.tokens(r) for r in model.greedy(src, src_len, 20).tolist()]
        beam1 = [data.tokens(r) for r in model.beam_search(src, src_len, 1, 20).tolist()]
        assert greedy == beam1
        assert model.beam_search(src, src_len, 4, 20).shape[0] == len(src)


def test_generated_tasks_are_exact_and_seeded():
    sizes = {"train": 50, "val": 20, "test": 20}
    for task in ("copy", "reverse", "sort"):
        data = generated_task(task, sizes=sizes, min_len=5, max_len=50, seed=3)
        split = data.splits["train"]
        assert split.src_len.min() >= 5 and split.src_len.max() <= 50
        for row in range(len(split)):
            src = [data.src_vocab[i] for i in split.src[row, : split.src_len[row]]]
            want = {"copy": src, "reverse": src[::-1], "sort": sorted(src, key=int)}[task]
            assert list(data.tokens(split.tgt[row])) == want == list(split.refs[row])
            assert split.tgt[row, len(want)] == EOS
    data = generated_task("addition", sizes=sizes, min_len=3, max_len=12, seed=3)
    for split in data.splits.values():
        for row in range(len(split)):
            text = "".join(data.src_vocab[i] for i in split.src[row, : split.src_len[row]])
            a, b = text.split("+")
            assert "".join(split.refs[row]) == str(int(a) + int(b)) and not a.startswith("0")
    again = generated_task("addition", sizes=sizes, min_len=3, max_len=12, seed=3)
    assert np.array_equal(again.splits["test"].src, data.splits["test"].src)
    bigger = generated_task("addition", sizes={**sizes, "train": 80}, min_len=3, max_len=12, seed=3)
    assert np.array_equal(bigger.splits["test"].src, data.splits["test"].src)  # test set fixed by the seed


def write_pair(folder, split, src_lines, tgt_lines, gz=False):
    folder.mkdir(parents=True, exist_ok=True)
    for lang, lines in (("de", src_lines), ("en", tgt_lines)):
        body = "".join(f"{line}\n" for line in lines)
        if gz:
            with gzip.open(folder / f"{split}.{lang}.gz", "wt", encoding="utf-8") as f:
                f.write(body)
        else:
            (folder / f"{split}.{lang}").write_text(body)


def test_unequal_line_counts_name_both_files(tmp_path):
    write_pair(tmp_path, "train", ["a b", "c"], ["x y", "z"])
    write_pair(tmp_path, "val", ["a", "b", "c"], ["x", "y"], gz=True)
    with pytest.raises(UserError) as info:
        load_parallel(tmp_path, src_lang="de", tgt_lang="en")
    message = str(info.value)
    assert "val.de.gz has 3 lines" in message and "val.en.gz has 2" in message and "\n" not in message


def test_missing_files_name_the_folder(tmp_path):
    write_pair(tmp_path, "train", ["a"], ["x"])
    with pytest.raises(UserError, match="no val.de"):
        load_parallel(tmp_path, src_lang="de", tgt_lang="en")


def test_text_vocabulary_unk_and_cache_hit(tmp_path, monkeypatch):
    write_pair(tmp_path, "train", ["ein Hund .", "ein Hund läuft", "eine Katze"], ["a dog .", "a dog runs", "a cat"])
    write_pair(tmp_path, "val", ["ein Vogel", "ein Hund"], ["a bird", "a dog"], gz=True)
    first = load_parallel(tmp_path, src_lang="de", tgt_lang="en", min_count=2)
    assert first.tgt_vocab[:4] == ("<pad>", "<bos>", "<eos>", "<unk>") and set(first.tgt_vocab[4:]) == {"a", "dog"}
    assert len(first.splits["val"]) + len(first.splits["test"]) == 2  # no test files: val is halved
    held_out = {r: first.splits[s] for s in ("val", "test") for r in first.splits[s].refs}
    bird = held_out[("a", "bird")]
    assert list(bird.tgt[0, :3]) == [first.tgt_vocab.index("a"), seqdata.UNK, EOS]

    def no_reading(_):
        raise AssertionError("read the text again")

    monkeypatch.setattr(seqdata, "read_lines", no_reading)
    again = load_parallel(tmp_path, src_lang="de", tgt_lang="en", min_count=2)
    assert again.tgt_vocab == first.tgt_vocab and np.array_equal(again.splits["train"].tgt, first.splits["train"].tgt)
    assert again.splits["val"].refs == first.splits["val"].refs
    with pytest.raises(AssertionError, match="read the text again"):
        load_parallel(tmp_path, src_lang="de", tgt_lang="en", min_count=1)


def test_multi30k_loads_and_trains(tmp_path):
    folder = shared_file("multi30k", "train.de.gz").parent
    cfg = seq2seq.Seq2seqConfig.from_dict(
        {**TINY, "data": str(folder), "max_rows": 300, "min_count": 2, "tokens": "word", "eval_examples": 20}
    )
    data = seq2seq.load_data(cfg)
    assert len(data.splits["train"]) == 300 and len(data.splits["val"]) + len(data.splits["test"]) == 300
    assert "a" in data.tgt_vocab and "ein" in data.src_vocab
    assert data.splits["train"].tgt[0, 0] != PAD
    row = fit(tmp_path, data=str(folder), max_rows=300, eval_examples=20)
    assert math.isfinite(row["val_perplexity"]) and 0 <= row["test_bleu"] <= 100


def test_config_rejects_bad_values():
    with pytest.raises(UserError, match="teacher_forcing"):
        seq2seq.Seq2seqConfig(teacher_forcing=1.5)
    with pytest.raises(UserError, match="attention"):
        seq2seq.Seq2seqConfig.from_dict({"attention": "luong"})
    with pytest.raises(UserError, match="max_len"):
        seq2seq.Seq2seqConfig(min_len=10, max_len=5)
