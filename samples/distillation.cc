// Sample 4: knowledge distillation. A CNN teacher is trained first; then the small MLP student
// (784-64-10) is trained twice from the same initial weights and data order: on the labels
// alone, and with the teacher's soft labels in the loss
//   alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(labels).
//
//   read -> augment -> collate -> teacher (cpu: frozen cnn, eval mode) -> train (compute):
//                                   |  logits of batch k                  forward -> distill-loss
//                                   |  (ahead: batch k+1 while the          -> backward -> step
//                                   |   student trains on batch k)             ^
//                                   +------------------------------------------+ same batch, seq k
//   epoch 1 fills a per-sample cache of the teacher's logits; epochs 2.. skip the teacher.
//
// Run: build/samples/sample_distillation   (--smoke: a slice of the data, one epoch each)
#include "pipelines/distillation.h"

#include <cstring>
#include <iomanip>
#include <iostream>

#include "pipelines/training.h"

using namespace millrace::pipelines;

int main(int argc, char** argv) {
  const bool smoke = argc > 1 && std::strcmp(argv[1], "--smoke") == 0;
  TrainConfig config;
  config.model = "mlp-small";
  config.teacher_model = "cnn";
  config.epochs = smoke ? 1 : 5;
  if (smoke) config.limit = 512, config.test_limit = 256;

  // The teacher: trained here (or config.teacher_checkpoint = "cnn.safetensors" to load one).
  std::shared_ptr<Teacher> teacher = MakeTeacher(config, config.epochs, /*cache_logits=*/true);

  // The student, on labels only.
  TrainResult plain = Train(config);

  // The same student (same seed: same initial weights and batches), with the teacher.
  TrainingPipeline student(config);
  DistillConfig distill;
  distill.loss = {.alpha = 0.9, .temperature = 4.0};
  distill.cache_logits = true;
  distill.teacher_placement = "cpu";  // the teacher's forward beside the student's step
  AttachDistillation(student, teacher, distill);
  TrainResult distilled = student.Run();

  std::cout << std::fixed << std::setprecision(2)
            << "student mlp-small, labels only:      " << 100 * plain.final_test->Accuracy()
            << "%\nstudent mlp-small, distilled (T=4, alpha=0.9): "
            << 100 * distilled.final_test->Accuracy() << "%\nteacher forwards "
            << teacher->forwards() << ", batches served from the cache " << teacher->cache_hits()
            << "\n";
  return 0;
}
