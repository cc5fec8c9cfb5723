// The public header must compile as C++ (and link) without warnings.
#include "encodec.h"

#include <cstdio>

int main()
{
    encodec_model *model = nullptr;
    char msg[128];
    int err = encodec_model_load_file("/nonexistent.safetensors", &model, msg, sizeof msg);
    std::printf("%s (%s)\n", encodec_strerror(err), encodec_version());
    return err == ENCODEC_EIO && model == nullptr ? 0 : 1;
}
