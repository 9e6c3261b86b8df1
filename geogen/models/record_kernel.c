/* A generated record from its physics and the decoder's residual, in one pass (geogen.models.ubdiff).
 *
 * The same maths as UBDiffNet.decode_seismic followed by UBDiff._seismic_physical: the prior is
 * log-compressed and scaled like a record (lo, hi: the seismic bounds), the decoder's residual is
 * added, the sum clamped to [-1, 1] and taken back to physical amplitude (out_lo, out_hi).  In torch
 * that is fifteen passes over every sample, two of them into fresh arrays (90 MB a batch at the
 * openfwi geometry); here it is one, vectorised with glibc's log1pf and expm1f (libmvec).
 */
#include <math.h>
#include <stdint.h>

void compose_records(int64_t first, int64_t last, const float *prior, float *residual,
                     float lo, float hi, float out_lo, float out_hi)
{
    const float scale = 2.0f / (hi - lo), half_range = 0.5f * (out_hi - out_lo);
    #pragma omp simd
    for (int64_t i = first; i < last; ++i) {
        float p = prior[i];
        float y = (copysignf(log1pf(fabsf(p)), p) - lo) * scale - 1.0f + residual[i];
        y = fminf(fmaxf(y, -1.0f), 1.0f);
        y = (y + 1.0f) * half_range + out_lo;
        residual[i] = copysignf(expm1f(fabsf(y)), y);
    }
}
