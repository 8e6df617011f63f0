"""What training sends to a notebook front end stays small.

Every progress-bar redraw and live-plot update is a message on the kernel's output channel.
ZMQ keeps at most 1,000 of them queued for a client that is busy (nbval waits for the cell
to finish before it reads them); past that it drops messages, and the cell's final 'idle'
status can be lost, which made nbval fail notebook 04 at random ("Timeout of 5 seconds
exceeded waiting for output"). Two short trainings once sent 641 messages; keep it far lower.
"""

from jupyter_client.manager import start_new_kernel

TRAIN_TWICE = """
from advlab import data
from advlab.models import SmallCNN
from advlab.train import fit
x, y, _ = data.digit0_mixture("train", n=1000, source="bundled")
for run in range(2):
    fit(SmallCNN(), (x, y), epochs=2, batch_size=16, title=f"run {run}")
"""


def test_training_in_a_kernel_sends_few_output_messages():
    kernel_manager, client = start_new_kernel(kernel_name="python3")
    try:
        msg_id = client.execute(TRAIN_TWICE)
        counts, errors = {}, []
        while True:
            message = client.get_iopub_msg(timeout=120)
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind = message["msg_type"]
            counts[kind] = counts.get(kind, 0) + 1
            if kind == "error":
                errors.append(message["content"]["evalue"])
            if kind == "status" and message["content"]["execution_state"] == "idle":
                break
    finally:
        client.stop_channels()
        kernel_manager.shutdown_kernel(now=True)
    assert not errors, errors
    assert counts.get("update_display_data", 0) >= 2, "the live plot should still update in place"
    assert sum(counts.values()) < 150, f"{sum(counts.values())} messages: {counts}"
