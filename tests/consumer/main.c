/* Links the installed libencodec and loads the model given on the command line. */
#include <encodec.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    encodec_model *m;
    char msg[256];
    if (argc < 2 || encodec_model_load_file(argv[1], &m, msg, sizeof msg) != ENCODEC_OK) {
        fprintf(stderr, "consumer: %s\n", argc < 2 ? "usage: consumer MODEL" : msg);
        return 1;
    }
    printf("%s %s %d Hz\n", encodec_version(), encodec_model_name(m), encodec_model_sample_rate(m));
    encodec_model_free(m);
    return 0;
}
