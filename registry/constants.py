ETA_MODEL_NAME = "eta"
APPROVE_PERMISSION = "registry.approve_promotionrequest"
APPROVERS_GROUP = "Model approvers"
# Fewer deliveries than this cannot give a trustworthy model and evaluation window.
MIN_TRAINING_ROWS = 500
# The most recent days of history are held out as the evaluation window of every training run.
EVALUATION_DAYS = 7
