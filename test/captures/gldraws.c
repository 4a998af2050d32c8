/* Surfaceless EGL + GLES2: clear, three draws with a uniform changed between them, read back.
 * Used only to make iris emit realistic batches under drm-shim + intel_dump_gpu. */
#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <GLES2/gl2.h>
#include <GLES2/gl2ext.h>
#include <stdio.h>
#include <string.h>
static const char *vs = "attribute vec2 p; void main(){ gl_Position = vec4(p,0.0,1.0); }";
static const char *fs = "precision mediump float; uniform float k; void main(){ gl_FragColor = vec4(1.0,k,0.0,1.0); }";
static GLuint sh(GLenum t, const char *s){ GLuint o = glCreateShader(t); glShaderSource(o,1,&s,NULL); glCompileShader(o); return o; }
int main(void){
   PFNEGLGETPLATFORMDISPLAYEXTPROC gpd = (void*)eglGetProcAddress("eglGetPlatformDisplayEXT");
   EGLDisplay d = gpd(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY, NULL);
   EGLint maj, min;
   if (!eglInitialize(d, &maj, &min)) { fprintf(stderr, "eglInitialize failed 0x%x\n", eglGetError()); return 1; }
   eglBindAPI(EGL_OPENGL_ES_API);
   EGLint ca[] = { EGL_CONTEXT_CLIENT_VERSION, 2, EGL_NONE };
   EGLContext c = eglCreateContext(d, EGL_NO_CONFIG_KHR, EGL_NO_CONTEXT, ca);
   if (!c || !eglMakeCurrent(d, EGL_NO_SURFACE, EGL_NO_SURFACE, c)) { fprintf(stderr, "context failed 0x%x\n", eglGetError()); return 1; }
   fprintf(stderr, "GL_RENDERER: %s\n", glGetString(GL_RENDERER));
   GLuint rb, fb; glGenRenderbuffers(1,&rb); glBindRenderbuffer(GL_RENDERBUFFER, rb);
   glRenderbufferStorage(GL_RENDERBUFFER, GL_RGBA8_OES, 64, 64);
   glGenFramebuffers(1,&fb); glBindFramebuffer(GL_FRAMEBUFFER, fb);
   glFramebufferRenderbuffer(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_RENDERBUFFER, rb);
   glViewport(0,0,64,64); glClearColor(0.1f,0.2f,0.4f,1.0f); glClear(GL_COLOR_BUFFER_BIT);
   GLuint p = glCreateProgram(); glAttachShader(p, sh(GL_VERTEX_SHADER, vs)); glAttachShader(p, sh(GL_FRAGMENT_SHADER, fs));
   glBindAttribLocation(p, 0, "p"); glLinkProgram(p); glUseProgram(p);
   static const float v[] = { -0.8f,-0.8f, 0.0f,-0.8f, -0.4f,0.0f,  0.0f,0.0f, 0.8f,0.0f, 0.4f,0.8f,  -0.8f,0.2f, -0.2f,0.2f, -0.5f,0.8f };
   glVertexAttribPointer(0, 2, GL_FLOAT, GL_FALSE, 0, v); glEnableVertexAttribArray(0);
   glDrawArrays(GL_TRIANGLES, 0, 3); glUniform1f(glGetUniformLocation(p,"k"), 0.5f); glDrawArrays(GL_TRIANGLES, 3, 3); glUniform1f(glGetUniformLocation(p,"k"), 0.25f); glDrawArrays(GL_TRIANGLES, 6, 3);
   unsigned char px[4]; glReadPixels(32,32,1,1,GL_RGBA,GL_UNSIGNED_BYTE,px);
   glFinish();
   fprintf(stderr, "pixel(32,32) = %u %u %u %u (no GPU ran: expect garbage/zero)\n", px[0],px[1],px[2],px[3]);
   eglTerminate(d); return 0;
}
