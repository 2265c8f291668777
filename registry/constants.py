ETA_MODEL_NAME = "eta"
APPROVE_PERMISSION = "registry.approve_promotionrequest"
# The admin's other registry actions, each behind its own permission (Django's add permission for requests).
ARCHIVE_PERMISSION = "registry.archive_modelversion"
REQUEST_PROMOTION_PERMISSION = "registry.add_promotionrequest"
APPROVERS_GROUP = "Model approvers"
# Fewer deliveries than this cannot give a trustworthy model and evaluation window.
MIN_TRAINING_ROWS = 500
# The most recent days of history are held out as the evaluation window of every training run.
EVALUATION_DAYS = 7
# The ETA model's accuracy targets (bench/accuracy.py reads them too): the model card says which of them a
# version meets on its evaluation window.
TARGET_MAE_MINUTES = 3.45
TARGET_WITHIN_5_MIN = 0.76
TARGET_INTERVAL_COVERAGE = (0.88, 0.92)
