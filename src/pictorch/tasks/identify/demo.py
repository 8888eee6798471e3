"""``pictorch demo`` (``make demo``): the lectures' headline system on Fashion-MNIST.

"Given photos of the members of our group, recognize each of them on any photo, and say 'not from our
group' for anyone else." The six clothing classes 0–5 play the group's members; classes 6–9 (Shirt,
Sneaker, Bag, Ankle boot) are strangers the network never saw in training. The demo:

1. trains an embedding on the training images of classes 0–5 only;
2. enrols 10 photos of each member in a gallery, by name;
3. calibrates the accept threshold for a 1% false-accept rate on held-out photos of members and strangers;
4. queries different photos of members and strangers and prints the open-set report;
5. saves pictures (queries with answers, score histograms with the threshold, ROC) and says where.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from pictorch.utils import article

MEMBERS = (0, 1, 2, 3, 4, 5)
STRANGERS = (6, 7, 8, 9)


def _say(msg: str) -> None:
    print(msg, flush=True)


def _pick(labels: torch.Tensor, classes: tuple[int, ...], n_per: int, g: torch.Generator,
          exclude: torch.Tensor | None = None) -> torch.Tensor:
    out = []
    taken = torch.zeros(labels.numel(), dtype=torch.bool)
    if exclude is not None and exclude.numel():
        taken[exclude] = True
    for c in classes:
        idx = ((labels == c) & ~taken).nonzero().flatten()
        out.append(idx[torch.randperm(idx.numel(), generator=g)[:n_per]])
    return torch.cat(out)


def run_demo(out_dir: str = "runs/demo", quick: bool = False, data_dir: str | None = None,
             steps: int | None = None, loss: str = "triplet", time_budget: float | None = None,
             scoring: str = "centroid", **train_kw: Any) -> dict[str, Any]:
    """Run the open-set identification demo end to end and return its report.

    Args:
        out_dir: Folder for the run (checkpoint), the gallery, the pictures and ``report.json``.
        quick: A much shorter run (for tests): fewer steps and queries.
        data_dir: Folder with the Fashion-MNIST IDX files (default: the usual search order).
        steps: Training steps at most (default: 1500, quick: 25).
        loss: Embedding loss (``triplet`` with semi-hard mining, ``arcface``, ``cosface`` or ``softmax``).
        time_budget: Seconds of training (default: 80, quick: no limit); the step count and learning-rate
            schedule are fitted to it as training goes, so the demo takes the same time on any machine.
    """
    from pictorch.data.fashion_mnist import FASHION_MNIST_CLASSES, load_fashion_mnist
    from pictorch.gallery import Gallery
    from pictorch.metrics.verification import roc, roc_auc
    from pictorch.tasks.identify.api import load_embedder
    from pictorch.tasks.identify.api import train as train_embedder
    from pictorch.viz.grid import save_image_grid
    from pictorch.viz.plots import plot_histograms, plot_xy

    t_start = time.perf_counter()
    import os

    cpus = os.cpu_count() or 1
    if torch.get_num_threads() > 1 and hasattr(os, "getloadavg") and os.getloadavg()[0] > cpus - 0.5:
        # other jobs keep every core busy: OpenMP threads would spin-wait on each other (10x slower here)
        torch.set_num_threads(1)
        _say(f"(the CPU is busy with other work, load {os.getloadavg()[0]:.1f} on {cpus} cores: using 1 thread)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = [c.replace("/", "-") for c in FASHION_MNIST_CLASSES]  # 'T-shirt/top': a '/' cannot be in a name
    members = [names[c] for c in MEMBERS]
    strangers = [names[c] for c in STRANGERS]
    steps = steps or (25 if quick else 1500)
    budget = (0.0 if quick else 80.0) if time_budget is None else float(time_budget)
    _say("pictorch demo: recognize the members of a group from a few photos, and say 'not from our group' "
         "for everyone else")
    _say(f"  members (trained on, then enrolled): {', '.join(members)}")
    _say(f"  strangers (never seen in training):  {', '.join(strangers)}")

    # 1. train ------------------------------------------------------------------------------------------
    how = f"for about {budget:.0f}s" if budget else f"for {steps} steps"
    _say(f"\n[1/5] training {article(loss)} embedding on Fashion-MNIST classes 0-5 {how} (small CNN, CPU)...")
    t0 = time.perf_counter()
    run = out / "model"
    options = dict(backbone="small_cnn", backbone_args="width=16", embed_dim=128, pool=2, embedding="backbone",
                   val_images=0 if quick else 1500)
    options.update(train_kw)
    result = train_embedder(out_dir=str(run), data="fashion-mnist", data_dir=data_dir, classes="0-5",
                            steps=steps, batch_size=96, lr=3e-3, log_every=5 if quick else 50, loss=loss,
                            progress=not quick, precision="auto", accelerator="cpu", time_budget=budget, **options)
    m = result["metrics"]
    extra = f", held-out Recall@1 {m['val_recall@1']:.3f}" if "val_recall@1" in m else ""
    _say(f"      {result['step']} steps in {time.perf_counter() - t0:.0f}s ({result['images_per_s']:.0f} img/s){extra}; "
         f"checkpoint {result['checkpoint']}")
    embedder = load_embedder(run)

    # 2. enrol ------------------------------------------------------------------------------------------
    test = load_fashion_mnist("test", data_dir)
    g = torch.Generator().manual_seed(0)
    n_enrol = 10
    n_cal, n_query = (20, 20) if quick else (150, 150)
    enrol_idx = _pick(test.labels, MEMBERS, n_enrol, g)
    cal_idx = _pick(test.labels, MEMBERS + STRANGERS, n_cal, g, exclude=enrol_idx)
    query_idx = _pick(test.labels, MEMBERS + STRANGERS, n_query, g, exclude=torch.cat([enrol_idx, cal_idx]))
    gallery_path = out / "gallery.db"
    for p in (gallery_path, Path(str(gallery_path) + ".faiss")):
        if p.exists():
            p.unlink()
    _say(f"\n[2/5] enrolling {n_enrol} photos of each member into {gallery_path} ({embedder.dim}-d embeddings; "
         f"a member's score is the {'similarity to the mean of their photos' if scoring == 'centroid' else 'best similarity to one of their photos'})")
    gallery = Gallery.create(gallery_path, embedder.fingerprint, embedder.dim, index="flat", scoring=scoring)
    try:
        emb_enrol = embedder.embed_images(test.images[enrol_idx])
        lab_enrol = test.labels[enrol_idx]
        for c in MEMBERS:
            sel = (lab_enrol == c).nonzero().flatten()
            srcs = [f"fashion-mnist/test/{int(enrol_idx[i])}" for i in sel]
            gallery.enroll(names[c], emb_enrol[sel], srcs)
        _say("      gallery: " + ", ".join(f"{k} ({v})" for k, v in gallery.people().items()))

        # 3. calibrate ----------------------------------------------------------------------------------
        _say(f"\n[3/5] calibrating the threshold for 1% false accepts on {len(cal_idx)} other photos "
             "(members and strangers)")
        cal_names = [names[int(c)] if int(c) in MEMBERS else "unknown" for c in test.labels[cal_idx]]
        cal = gallery.calibrate(embedder.embed_images(test.images[cal_idx]), cal_names, target_far=0.01)
        thr = float(cal["threshold"])
        _say(f"      threshold {thr:.3f} (calibration: TAR {cal['tar']:.3f} at FAR {cal['far']:.3f})")

        # 4. query --------------------------------------------------------------------------------------
        _say(f"\n[4/5] asking who is on {len(query_idx)} new photos "
             f"({n_query} per class: members and strangers)")
        q_emb = embedder.embed_images(test.images[query_idx])
        q_lab = test.labels[query_idx]
        matches = gallery.identify(q_emb, k=3)
    finally:
        gallery.close()

    is_member = torch.tensor([int(c) in MEMBERS for c in q_lab])
    answers = [mt.name for mt in matches]
    scores = torch.tensor([mt.score for mt in matches], dtype=torch.float64)
    truth = [names[int(c)] for c in q_lab]
    correct_member = torch.tensor([a == t for a, t in zip(answers, truth, strict=True)]) & is_member
    rejected = torch.tensor([a == "unknown" for a in answers])
    n_mem, n_str = int(is_member.sum()), int((~is_member).sum())
    dir_ = float(correct_member.sum()) / max(n_mem, 1)
    rej = float((rejected & ~is_member).sum()) / max(n_str, 1)
    wrong_member = int((is_member & ~rejected & ~correct_member).sum())
    missed_member = int((is_member & rejected).sum())
    false_accept = int((~is_member & ~rejected).sum())
    top_correct = torch.tensor([mt.topk[0][0] == t if mt.topk else False for mt, t in zip(matches, truth,
                                                                                          strict=True)])
    rank1 = float((top_correct & is_member).sum()) / max(n_mem, 1)
    auc = roc_auc(scores.numpy(), is_member.numpy().astype(int))

    # sample lines
    _say("      sample answers:")
    order = torch.randperm(len(answers), generator=torch.Generator().manual_seed(1))[:12]
    for i in order.tolist():
        who = answers[i]
        said = "unknown (not from our group)" if who == "unknown" else who
        ok = (who == truth[i]) if is_member[i] else (who == "unknown")
        _say(f"      query {i:3d} ({article(truth[i])}) -> {said}, score {float(scores[i]):.2f}"
             f"{'' if ok else '   <- wrong'}")

    report = {
        "members": members, "strangers": strangers, "enrolled_per_member": n_enrol, "threshold": thr,
        "calibration": cal, "queries": {"members": n_mem, "strangers": n_str},
        "member_identified": dir_, "member_rank1_closed_set": rank1, "member_wrong_name": wrong_member,
        "member_rejected": missed_member, "stranger_rejected": rej, "stranger_accepted": false_accept,
        "member_vs_stranger_auc": auc, "train": {"steps": result["step"], "seconds": result["seconds"],
                                                 "loss": loss, "metrics": m},
    }
    _say("\n      open-set report")
    _say(f"      members identified correctly (DIR) : {dir_:6.1%}  ({int(correct_member.sum())}/{n_mem})")
    _say(f"      members named wrongly              : {wrong_member}")
    _say(f"      members rejected as strangers      : {missed_member}")
    _say(f"      strangers rejected ('not ours')    : {rej:6.1%}  ({int((rejected & ~is_member).sum())}/{n_str})")
    _say(f"      strangers accepted as a member     : {false_accept}")
    _say(f"      closed-set rank-1 (members only)   : {rank1:6.1%}")
    _say(f"      member-vs-stranger score AUC       : {auc:.3f}")
    per_class = {}
    for c in MEMBERS + STRANGERS:
        sel = q_lab == c
        if c in MEMBERS:
            per_class[names[c]] = float(correct_member[sel].float().mean())
        else:
            per_class[names[c]] = float(rejected[sel].float().mean())
    report["per_class"] = per_class
    stranger_scores = {names[c]: float(scores[q_lab == c].mean()) for c in STRANGERS}
    hardest = max(stranger_scores, key=stranger_scores.get)
    report["stranger_mean_score"] = stranger_scores
    _say(f"      the most member-like strangers: {hardest} (mean best score {stranger_scores[hardest]:.2f}, vs "
         f"{float(scores[is_member].mean()):.2f} for members); a 1% false-accept budget sets the threshold "
         "above nearly all of them, which is what costs members their identification")
    from pictorch.metrics.retrieval import dir_at_far

    trade = {far: dir_at_far(scores.numpy(), (top_correct & is_member).numpy(), is_member.numpy(), far)
             for far in (0.01, 0.05, 0.1, 0.2)}
    report["tradeoff"] = {f"dir@far={far:g}": r["dir"] for far, r in trade.items()}
    _say("      trade-off on these queries (members identified at a given share of strangers let in): "
         + ", ".join(f"{r['dir']:.0%} at {far:.0%}" for far, r in trade.items()))
    _say("      per class (members: identified, strangers: rejected): "
         + ", ".join(f"{k} {v:.0%}" for k, v in per_class.items()))

    # 5. pictures -----------------------------------------------------------------------------------------
    _say("\n[5/5] saving pictures")
    pics = {}
    show = torch.cat([order[:8], torch.nonzero(~rejected & ~is_member).flatten()[:4],
                      torch.nonzero(is_member & ~correct_member).flatten()[:4]])
    labels = []
    for i in show.tolist():
        said = "unknown" if answers[i] == "unknown" else answers[i]
        labels.append(f"{truth[i]} -> {said} ({float(scores[i]):.2f})")
    pics["queries"] = str(save_image_grid(test.images[query_idx[show]], out / "queries.png", nrow=4, labels=labels,
                                          title="Queries -> gallery answers (last rows: mistakes)"))
    pics["gallery"] = str(save_image_grid(test.images[enrol_idx], out / "gallery.png", nrow=n_enrol,
                                          title="Enrolled members (one row each): " + ", ".join(members)))
    pics["scores"] = str(plot_histograms({"members (true name)": scores[is_member].numpy(),
                                          "strangers": scores[~is_member].numpy()}, out / "scores.png",
                                         xlabel="best gallery score", vlines={f"threshold {thr:.2f}": thr},
                                         title="Open-set scores: members vs strangers"))
    fpr, tpr, _ = roc(scores.numpy(), is_member.numpy().astype(int))
    pics["roc"] = str(plot_xy({f"AUC {auc:.3f}": (fpr, tpr)}, out / "roc.png", "strangers accepted",
                              "members accepted", title="Members vs strangers", diagonal=True))
    report["pictures"] = pics
    report["seconds"] = time.perf_counter() - t_start
    from pictorch.utils import atomic_write

    with atomic_write(out / "report.json", "w") as f:
        json.dump(report, f, indent=2, default=float)
    for k, v in pics.items():
        _say(f"      {k:8s} {v}")
    _say(f"      report   {out / 'report.json'}")
    _say(f"\ndone in {report['seconds']:.0f}s. Try: pictorch identify who PHOTO --gallery {gallery_path}")
    return report


__all__ = ["run_demo"]
