/* Surfaceless EGL + GLES 3.1: one compute dispatch (8x2 groups of 64) writing an SSBO, read back.
 * Used only to make iris emit a real GPGPU_WALKER batch under drm-shim + intel_dump_gpu. */
#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <GLES3/gl31.h>
#include <stdio.h>
static const char *cs = "#version 310 es\nlayout(local_size_x = 64) in;\nlayout(std430, binding = 0) buffer B { uint v[]; };\n"
                        "void main(){ v[gl_GlobalInvocationID.y * 512u + gl_GlobalInvocationID.x] = gl_GlobalInvocationID.x * 3u + 1u; }";
int main(void){
   PFNEGLGETPLATFORMDISPLAYEXTPROC gpd = (void*)eglGetProcAddress("eglGetPlatformDisplayEXT");
   EGLDisplay d = gpd(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY, NULL);
   EGLint maj, min;
   if (!eglInitialize(d, &maj, &min)) { fprintf(stderr, "eglInitialize failed 0x%x\n", eglGetError()); return 1; }
   eglBindAPI(EGL_OPENGL_ES_API);
   EGLint ca[] = { EGL_CONTEXT_MAJOR_VERSION, 3, EGL_CONTEXT_MINOR_VERSION, 1, EGL_NONE };
   EGLContext c = eglCreateContext(d, EGL_NO_CONFIG_KHR, EGL_NO_CONTEXT, ca);
   if (!c || !eglMakeCurrent(d, EGL_NO_SURFACE, EGL_NO_SURFACE, c)) { fprintf(stderr, "context failed 0x%x\n", eglGetError()); return 1; }
   fprintf(stderr, "GL_RENDERER: %s\n", glGetString(GL_RENDERER));
   GLuint s = glCreateShader(GL_COMPUTE_SHADER); glShaderSource(s, 1, &cs, NULL); glCompileShader(s);
   GLint ok = 0; glGetShaderiv(s, GL_COMPILE_STATUS, &ok); if (!ok) { char log[1024]; glGetShaderInfoLog(s, sizeof log, NULL, log); fprintf(stderr, "%s\n", log); return 1; }
   GLuint p = glCreateProgram(); glAttachShader(p, s); glLinkProgram(p); glUseProgram(p);
   GLuint b; glGenBuffers(1, &b); glBindBuffer(GL_SHADER_STORAGE_BUFFER, b);
   glBufferData(GL_SHADER_STORAGE_BUFFER, 512 * 2 * 4, NULL, GL_DYNAMIC_COPY); glBindBufferBase(GL_SHADER_STORAGE_BUFFER, 0, b);
   glDispatchCompute(8, 2, 1);
   glMemoryBarrier(GL_BUFFER_UPDATE_BARRIER_BIT);
   const unsigned *m = glMapBufferRange(GL_SHADER_STORAGE_BUFFER, 0, 16, GL_MAP_READ_BIT);
   fprintf(stderr, "v[1] = %u (no GPU ran: expect garbage/zero)\n", m ? m[1] : 0);
   glFinish();
   eglTerminate(d); return 0;
}
